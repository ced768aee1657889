#include "virtio/disk/raw_disk.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <xxhash.h>

#include "amber/log.h"
#include "virtio/disk/file_io.h"

namespace amber::block {

namespace {
// An image's extents are at most 4 MiB (docs/image-format.md); anything
// larger here is refused rather than buffered.
constexpr uint64_t kMaxCheckedExtent = 4ull << 20;

[[noreturn]] void open_failed(const std::string& path, bool read_only, int err) {
  switch (err) {
    case ENOENT: throw Error(fmt::format("disk '{}': no such file", path));
    case EISDIR: throw Error(fmt::format("disk '{}': is a directory", path));
    case EACCES:
    case EPERM:
      if (!read_only && ::access(path.c_str(), R_OK) == 0)
        throw Error(fmt::format("disk '{}': permission denied for writing (add ,ro or ,cow to use it read-only)", path));
      throw Error(fmt::format("disk '{}': permission denied", path));
    case EROFS:
      throw Error(fmt::format("disk '{}': on a read-only file system (add ,ro or ,cow to use it read-only)", path));
    default: throw SysError(fmt::format("disk '{}': open", path), err);
  }
}

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
}
}  // namespace

std::unique_ptr<RawDisk> RawDisk::open(const std::string& path, bool read_only, std::string id) {
  UniqueFd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd) open_failed(path, read_only, errno);
  struct stat st {};
  check_sys(::fstat(fd.get(), &st), fmt::format("disk '{}': fstat", path));
  uint64_t size = 0;
  if (S_ISDIR(st.st_mode)) throw Error(fmt::format("disk '{}': is a directory", path));
  if (S_ISREG(st.st_mode)) {
    size = uint64_t(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    check_sys(::ioctl(fd.get(), BLKGETSIZE64, &size), fmt::format("disk '{}': BLKGETSIZE64", path));
  } else {
    throw Error(fmt::format("disk '{}': is not a regular file or block device", path));
  }
  if (size == 0) throw Error(fmt::format("disk '{}': is empty", path));
  if (size % kSectorSize)
    throw Error(fmt::format("disk '{}': size {} is not a multiple of {} bytes", path, size, kSectorSize));
  // Path, size and modification time: an overlay made over this file stops
  // matching when the file is replaced or written to.
  std::string identity = fmt::format("file:{}:{}:{}.{:09}", real_path(path), size, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  return std::unique_ptr<RawDisk>(new RawDisk(std::move(fd), 0, size, read_only, std::move(id), std::move(identity)));
}

std::unique_ptr<RawDisk> RawDisk::range(int fd, uint64_t offset, uint64_t length, std::vector<Extent> extents,
                                        std::string id, std::string identity) {
  std::vector<StoredExtent> in_place;
  in_place.reserve(extents.size());
  for (auto& e : extents) in_place.push_back({e, e.offset});
  if (offset + length < offset || offset + length > uint64_t(INT64_MAX))
    throw Error(fmt::format("disk '{}': bad embedded range {:#x}+{:#x}", id, offset, length));
  return range_mapped(fd, offset, length, std::move(in_place), std::move(id), std::move(identity));
}

std::unique_ptr<RawDisk> RawDisk::range_mapped(int fd, uint64_t offset, uint64_t length,
                                               std::vector<StoredExtent> extents, std::string id,
                                               std::string identity, std::vector<uint64_t> xxh3) {
  if (!xxh3.empty() && xxh3.size() != extents.size())
    throw Error(fmt::format("disk '{}': {} checksums for {} extents", id, xxh3.size(), extents.size()));
  if (length == 0 || length % kSectorSize || offset > uint64_t(INT64_MAX))
    throw Error(fmt::format("disk '{}': bad embedded range {:#x}+{:#x}", id, offset, length));
  uint64_t pos = 0;
  for (auto& e : extents) {
    if (e.length == 0 || e.offset < pos || e.offset > length || e.length > length - e.offset ||
        e.stored > uint64_t(INT64_MAX) - offset || e.length > uint64_t(INT64_MAX) - offset - e.stored)
      throw Error(fmt::format("disk '{}': bad embedded extent {:#x}+{:#x} at {:#x}", id, e.offset, e.length, e.stored));
    pos = e.end();
  }
  UniqueFd dup(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
  if (!dup) throw SysError(fmt::format("disk '{}': dup", id), errno);
  auto disk = std::unique_ptr<RawDisk>(new RawDisk(std::move(dup), offset, length, true, std::move(id), std::move(identity)));
  disk->embedded_ = true;
  if (!xxh3.empty()) {
    disk->checked_ = std::make_unique<std::atomic<uint8_t>[]>(extents.size());  // value-initialized: kUnchecked
    disk->xxh3_ = std::move(xxh3);
  }
  disk->extents_ = std::move(extents);
  return disk;
}

RawDisk::RawDisk(UniqueFd fd, uint64_t offset, uint64_t length, bool read_only, std::string id, std::string identity)
    : fd_(std::move(fd)), offset_(offset), length_(length), read_only_(read_only), id_(std::move(id)), identity_(std::move(identity)) {}

bool RawDisk::read(uint64_t off, std::span<uint8_t> data) noexcept {
  if (off > length_ || data.size() > length_ - off) return false;
  if (embedded_) return read_extents(off, data);
  return pread_full(fd_.get(), offset_ + off, data);
}

bool RawDisk::read_extents(uint64_t off, std::span<uint8_t> data) const noexcept {
  uint64_t end = off + data.size();
  // The first extent ending after `off` (binary search: images may hold
  // many thousands).
  auto it = std::upper_bound(extents_.begin(), extents_.end(), off,
                             [](uint64_t o, const StoredExtent& e) { return o < e.end(); });
  uint64_t pos = off;
  for (; pos < end; ++it) {
    uint64_t data_from = it == extents_.end() ? end : std::min(std::max(it->offset, pos), end);
    std::memset(data.data() + (pos - off), 0, data_from - pos);  // a hole: zeros, never the file
    pos = data_from;
    if (pos == end) break;
    if (!xxh3_.empty() && !extent_checked(static_cast<size_t>(it - extents_.begin()))) return false;
    uint64_t data_to = std::min(it->end(), end);
    // The extent's bytes lie at offset_ + stored (packed images) rather
    // than at offset_ + the disk offset.
    if (!pread_exact(fd_.get(), offset_ + it->stored + (pos - it->offset), data.subspan(pos - off, data_to - pos)))
      return false;
    pos = data_to;
  }
  return true;
}

bool RawDisk::extent_checked(size_t i) const noexcept {
  uint8_t state = checked_[i].load(std::memory_order_acquire);
  if (state != kUnchecked) return state == kGood;
  // Two threads may check the same extent at once; both get the same answer.
  const StoredExtent& e = extents_[i];
  static thread_local std::vector<uint8_t> buf;
  bool good = false;
  if (e.length <= kMaxCheckedExtent) {
    try {
      buf.resize(e.length);
    } catch (...) {
      return false;  // no memory now: an I/O error, and checked again next time
    }
    good = pread_exact(fd_.get(), offset_ + e.stored, buf) && XXH3_64bits(buf.data(), e.length) == xxh3_[i];
  }
  if (!good) {
    static log::RateLimit limit;
    log::guest_warn(limit, "disk '{}': extent {} ({:#x}+{:#x} at file offset {:#x}) fails its checksum: reads of it "
                    "are I/O errors (the image was changed after it was written; amber verify)",
                    id_, i, e.offset, e.length, offset_ + e.stored);
  }
  checked_[i].store(good ? kGood : kBad, std::memory_order_release);
  return good;
}

bool RawDisk::write(uint64_t off, std::span<const uint8_t> data) noexcept {
  if (read_only_ || off > length_ || data.size() > length_ - off) return false;
  return pwrite_full(fd_.get(), offset_ + off, data);
}

bool RawDisk::flush() noexcept {
  return read_only_ || datasync(fd_.get());
}

bool RawDisk::discard(uint64_t off, uint64_t len) noexcept {
  if (read_only_ || off > length_ || len > length_ - off) return false;
  return punch_or_zero(fd_.get(), offset_ + off, len);
}

bool RawDisk::write_zeroes(uint64_t off, uint64_t len, bool unmap) noexcept {
  if (read_only_ || off > length_ || len > length_ - off) return false;
  return unmap ? punch_or_zero(fd_.get(), offset_ + off, len) : zero_range(fd_.get(), offset_ + off, len);
}

std::vector<Extent> RawDisk::data_extents() const {
  if (embedded_) return std::vector<Extent>(extents_.begin(), extents_.end());
  return file_data_extents(fd_.get(), offset_, length_);
}

}  // namespace amber::block
