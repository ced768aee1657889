#pragma once
// Whole-buffer file I/O helpers shared by the disk backends. They retry on
// EINTR and short transfers and never throw.
#include <cstdint>
#include <span>
#include <vector>

#include "virtio/disk/disk_backend.h"

namespace amber::block {

// Reads all of `data` from `off`; bytes past the end of the file read as zeros.
bool pread_full(int fd, uint64_t off, std::span<uint8_t> data) noexcept;
// Reads all of `data` from `off`; false when the file ends first (data that
// must exist, e.g. a checksummed extent of an image).
bool pread_exact(int fd, uint64_t off, std::span<uint8_t> data) noexcept;
bool pwrite_full(int fd, uint64_t off, std::span<const uint8_t> data) noexcept;
// fdatasync(), retried on EINTR (a backend's flush()).
bool datasync(int fd) noexcept;
// Deallocates [off, off+len) keeping the file size; the range reads as zeros.
// Falls back to writing zeros where the file system cannot punch holes.
bool punch_or_zero(int fd, uint64_t off, uint64_t len) noexcept;
// Zeroes [off, off+len) keeping it allocated (FALLOC_FL_ZERO_RANGE), with
// the same fallback.
bool zero_range(int fd, uint64_t off, uint64_t len) noexcept;
// The data (non-hole) ranges of [start, start+len) of the file, relative to
// `start`, via SEEK_DATA/SEEK_HOLE; the whole range where unsupported.
std::vector<Extent> file_data_extents(int fd, uint64_t start, uint64_t len);

}  // namespace amber::block
