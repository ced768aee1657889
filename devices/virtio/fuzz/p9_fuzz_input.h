#pragma once
// The input format of the virtio-9p server fuzzer (p9_fuzz.cpp), shared with
// its seed generator (make_p9_seeds.cpp):
//
//   flags[1]                bit 0: read-only share; bit 1: start with
//                           Tversion(msize 8192) + Tattach(fid 0)
//   then messages, each:    reply_limit[2] len[2] bytes[len]
//                           (bytes are one T-message as the guest sent it,
//                           size field included and unchecked)
#include <cstdint>

namespace amber::virtio::fuzz {

inline constexpr uint8_t kP9FlagReadOnly = 1;
inline constexpr uint8_t kP9FlagSession = 2;
// Messages per input at most: bounds one run's host file-system work.
inline constexpr int kP9MaxMessages = 64;

}  // namespace amber::virtio::fuzz
