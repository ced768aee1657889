#pragma once
// The input format of the virtio-blk fuzzer (blk_fuzz.cpp), shared with the
// seed generator (make_seeds.cpp):
//
//   FuzzHeader (16 bytes)
//   reg_ops x RegOp (6 bytes each): MMIO register writes after DRIVER_OK
//   the rest: the guest RAM image (kRamSize bytes, zero-padded)
#include <cstdint>

namespace amber::virtio::fuzz {

inline constexpr uint64_t kRamSize = 64 * 1024;
inline constexpr uint64_t kDiskSize = 32 * 1024;

#pragma pack(push, 1)
struct FuzzHeader {
  uint8_t flags;       // bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 read-only disk
  uint8_t queue_log2;  // queue size = 1 << (queue_log2 % 9)
  uint8_t notifies;    // 1 + notifies % 4 notifications
  uint8_t reg_ops;     // reg_ops % 8 register writes follow
  uint32_t desc, avail, used;  // ring addresses (taken modulo kRamSize)
};
struct RegOp {
  uint16_t offset;  // taken modulo 0x200
  uint32_t value;
};
#pragma pack(pop)
static_assert(sizeof(FuzzHeader) == 16);
static_assert(sizeof(RegOp) == 6);

inline constexpr uint8_t kFlagEventIdx = 1;
inline constexpr uint8_t kFlagIndirect = 2;
inline constexpr uint8_t kFlagReadOnly = 4;

}  // namespace amber::virtio::fuzz
