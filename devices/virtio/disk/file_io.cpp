#include "virtio/disk/file_io.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace amber::block {

bool pread_full(int fd, uint64_t off, std::span<uint8_t> data) noexcept {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pread(fd, data.data() + done, data.size() - done, off_t(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) {  // end of file: the rest is an implicit hole
      std::memset(data.data() + done, 0, data.size() - done);
      return true;
    }
    done += size_t(n);
  }
  return true;
}

bool pread_exact(int fd, uint64_t off, std::span<uint8_t> data) noexcept {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pread(fd, data.data() + done, data.size() - done, off_t(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

bool pwrite_full(int fd, uint64_t off, std::span<const uint8_t> data) noexcept {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, off_t(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += size_t(n);
  }
  return true;
}

namespace {
bool write_zero_bytes(int fd, uint64_t off, uint64_t len) noexcept {
  static const uint8_t kZeros[64 * 1024] = {};
  while (len > 0) {
    size_t n = size_t(std::min<uint64_t>(len, sizeof(kZeros)));
    if (!pwrite_full(fd, off, std::span<const uint8_t>(kZeros, n))) return false;
    off += n;
    len -= n;
  }
  return true;
}

bool fallocate_or_zero(int fd, int mode, uint64_t off, uint64_t len) noexcept {
  if (len == 0) return true;
  int rc;
  do {
    rc = ::fallocate(fd, mode, off_t(off), off_t(len));
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) return true;
  if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL || errno == ENODEV) return write_zero_bytes(fd, off, len);
  return false;
}
}  // namespace

bool datasync(int fd) noexcept {
  int rc;
  do {
    rc = ::fdatasync(fd);
  } while (rc < 0 && errno == EINTR);
  return rc == 0;
}

bool punch_or_zero(int fd, uint64_t off, uint64_t len) noexcept {
  return fallocate_or_zero(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
}

bool zero_range(int fd, uint64_t off, uint64_t len) noexcept {
  return fallocate_or_zero(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
}

std::vector<Extent> file_data_extents(int fd, uint64_t start, uint64_t len) {
  std::vector<Extent> out;
  uint64_t end = start + len;
  uint64_t pos = start;
  while (pos < end) {
    off_t data = ::lseek(fd, off_t(pos), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // no data after pos (or pos is past EOF)
      return {Extent{0, len}};    // SEEK_DATA unsupported: assume all data
    }
    if (uint64_t(data) >= end) break;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return {Extent{0, len}};
    uint64_t e = std::min<uint64_t>(uint64_t(hole), end);
    out.push_back(Extent{uint64_t(data) - start, e - uint64_t(data)});
    pos = e;
  }
  return normalize_extents(std::move(out));
}

std::vector<Extent> normalize_extents(std::vector<Extent> in) {
  std::erase_if(in, [](const Extent& e) { return e.length == 0; });
  std::sort(in.begin(), in.end(), [](const Extent& a, const Extent& b) { return a.offset < b.offset; });
  std::vector<Extent> out;
  for (auto& e : in) {
    if (!out.empty() && e.offset <= out.back().offset + out.back().length)
      out.back().length = std::max(out.back().offset + out.back().length, e.offset + e.length) - out.back().offset;
    else
      out.push_back(e);
  }
  return out;
}

}  // namespace amber::block
