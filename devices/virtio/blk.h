#pragma once
// virtio-blk (virtio 1.2 §5.2) over a DiskBackend. Requests are served
// synchronously inside process_queue(): data moves between the disk and
// guest memory with no intermediate buffer, and nothing stays in flight
// once the call returns (the snapshot rule in mmio_transport.h).
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "amber/log.h"
#include "virtio/disk/disk_backend.h"
#include "virtio/virtio_device.h"

namespace amber::virtio {

// §5.2.3 feature bits.
inline constexpr uint64_t kBlkFeatureSizeMax = 1ull << 1;
inline constexpr uint64_t kBlkFeatureSegMax = 1ull << 2;
inline constexpr uint64_t kBlkFeatureRo = 1ull << 5;
inline constexpr uint64_t kBlkFeatureBlkSize = 1ull << 6;
inline constexpr uint64_t kBlkFeatureFlush = 1ull << 9;
inline constexpr uint64_t kBlkFeatureDiscard = 1ull << 13;
inline constexpr uint64_t kBlkFeatureWriteZeroes = 1ull << 14;

// §5.2.6 request types and status values.
inline constexpr uint32_t kBlkTypeIn = 0;
inline constexpr uint32_t kBlkTypeOut = 1;
inline constexpr uint32_t kBlkTypeFlush = 4;
inline constexpr uint32_t kBlkTypeGetId = 8;
inline constexpr uint32_t kBlkTypeDiscard = 11;
inline constexpr uint32_t kBlkTypeWriteZeroes = 13;
inline constexpr uint8_t kBlkStatusOk = 0;
inline constexpr uint8_t kBlkStatusIoErr = 1;
inline constexpr uint8_t kBlkStatusUnsupp = 2;
inline constexpr uint32_t kBlkIdBytes = 20;           // VIRTIO_BLK_ID_BYTES
inline constexpr uint32_t kBlkDiscardUnmap = 1;       // virtio_blk_discard_write_zeroes.flags

// §5.2.4 struct virtio_blk_config, up to write_zeroes_may_unmap.
#pragma pack(push, 1)
struct BlkConfig {
  uint64_t capacity;  // 512-byte sectors
  uint32_t size_max;
  uint32_t seg_max;
  uint16_t cylinders;
  uint8_t heads, sectors;
  uint32_t blk_size;
  uint8_t physical_block_exp, alignment_offset;
  uint16_t min_io_size;
  uint32_t opt_io_size;
  uint8_t writeback, unused0;
  uint16_t num_queues;
  uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
  uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
  uint8_t write_zeroes_may_unmap;
  uint8_t unused1[3];
};
#pragma pack(pop)
static_assert(sizeof(BlkConfig) == 60);

struct BlkState {
  uint64_t capacity = 0;  // sectors; restore refuses a disk of another size
  bool read_only = false;
  template <class Ar, class Self>
  static void describe(Ar& ar, Self& s) {
    ar("capacity", s.capacity)("read_only", s.read_only);
  }
  bool operator==(const BlkState&) const = default;
};

class Blk : public VirtioDevice {
 public:
  static constexpr uint16_t kQueueSize = 256;
  static constexpr uint32_t kSegMax = kQueueSize - 2;  // header and status take two descriptors
  static constexpr uint32_t kSizeMax = 1u << 20;
  static constexpr uint32_t kMaxDiscardSectors = 1u << 22;  // 2 GiB per segment
  static constexpr uint32_t kMaxDiscardSeg = 32;

  explicit Blk(std::unique_ptr<block::DiskBackend> disk);

  uint32_t device_type() const noexcept override;
  uint64_t features() const noexcept override { return features_; }
  uint32_t num_queues() const noexcept override { return 1; }
  uint16_t queue_max_size() const noexcept override { return kQueueSize; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const noexcept override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) noexcept override;
  bool process_queue(uint32_t index, Queue& q, const GuestMemory& mem) noexcept override;
  void reset() noexcept override {}
  StateNode save() const override;
  void restore(const StateNode& node) override;

  const BlkConfig& config() const noexcept { return config_; }
  block::DiskBackend& disk() noexcept { return *disk_; }

 private:
  using Spans = std::vector<std::span<uint8_t>>;
  // Serves one chain; false when it has no usable status byte (the queue
  // then needs a reset). `used_len` is what goes into the used ring.
  bool serve(const Chain& chain, const GuestMemory& mem, uint32_t& used_len) noexcept;
  uint8_t execute(uint64_t& written) noexcept;
  uint8_t do_io(uint32_t type, uint64_t sector) noexcept;
  uint8_t do_get_id(uint64_t& written) noexcept;
  uint8_t do_discard(uint32_t type) noexcept;

  std::unique_ptr<block::DiskBackend> disk_;
  uint64_t features_ = 0;
  BlkConfig config_{};
  Chain chain_;
  Spans rd_, wr_;  // readable / writable bytes of the current request
  log::RateLimit warn_limit_;
};

}  // namespace amber::virtio
