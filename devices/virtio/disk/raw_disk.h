#pragma once
// A disk stored in a plain file (or block device), or in a byte range of a
// larger file (a disk embedded in a VM image). I/O is pread/pwrite straight
// into guest memory; flush is fdatasync; discard and write-zeroes punch
// holes so the file stays sparse.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "virtio/disk/disk_backend.h"
#include "amber/unique_fd.h"

namespace amber::block {

class RawDisk : public DiskBackend {
 public:
  // Opens `path` (read-only when `read_only`). Throws Error with a clear
  // message for every reason the file cannot serve as a disk.
  static std::unique_ptr<RawDisk> open(const std::string& path, bool read_only, std::string id);
  // A read-only view of [offset, offset + length) of `fd` (the image keeps
  // its own fd; this one is dup()ed) whose data is only in `extents`
  // (relative to `offset`; sorted, disjoint, inside the range: the image's
  // checked extent table). Bytes outside them read as zeros without touching
  // the file, so no byte the image's checksums do not cover reaches the
  // guest; an extent cut short by the file's end is an I/O error, not zeros.
  // `identity` names the contents (e.g. the image's checksum) for overlays.
  static std::unique_ptr<RawDisk> range(int fd, uint64_t offset, uint64_t length, std::vector<Extent> extents,
                                        std::string id, std::string identity);
  // The same over a packed section (image format 1.1): the disk is
  // `length` bytes; extent e's bytes lie at file offset `offset + e.stored`
  // (anywhere in the file after `offset`; the image checks that they do
  // not overlap). range() is this with stored == offset.
  // `xxh3`, when not empty, holds each extent's checksum (the image's
  // extent table): the first read that touches an extent reads all of it
  // and compares, and a mismatch is an I/O error for every read of it, so
  // no byte that fails its checksum reaches the guest (issue 11). Each
  // extent is checked once per process (at most 4 MiB, docs/image-format.md).
  static std::unique_ptr<RawDisk> range_mapped(int fd, uint64_t offset, uint64_t length,
                                               std::vector<StoredExtent> extents, std::string id,
                                               std::string identity, std::vector<uint64_t> xxh3 = {});

  uint64_t size() const noexcept override { return length_; }
  bool read_only() const noexcept override { return read_only_; }
  std::string id() const override { return id_; }
  std::string identity() const override { return identity_; }
  bool read(uint64_t off, std::span<uint8_t> data) noexcept override;
  bool write(uint64_t off, std::span<const uint8_t> data) noexcept override;
  bool flush() noexcept override;
  bool discard(uint64_t off, uint64_t len) noexcept override;
  bool write_zeroes(uint64_t off, uint64_t len, bool unmap) noexcept override;
  std::vector<Extent> data_extents() const override;

  int fd() const noexcept { return fd_.get(); }

 private:
  RawDisk(UniqueFd fd, uint64_t offset, uint64_t length, bool read_only, std::string id, std::string identity);
  bool read_extents(uint64_t off, std::span<uint8_t> data) const noexcept;
  // Reads extent i whole and compares its checksum, once; false on a
  // mismatch or a read error (then and on every later call).
  bool extent_checked(size_t i) const noexcept;

  UniqueFd fd_;
  uint64_t offset_, length_;
  bool read_only_;
  std::string id_, identity_;
  bool embedded_ = false;        // range(): only extents_ hold data
  std::vector<StoredExtent> extents_;  // embedded_: the data; stored relative to offset_
  std::vector<uint64_t> xxh3_;         // empty, or extents_[i]'s checksum
  enum : uint8_t { kUnchecked, kGood, kBad };
  std::unique_ptr<std::atomic<uint8_t>[]> checked_;  // per extent, when xxh3_ is set
};

}  // namespace amber::block
