#pragma once
// Where a virtio-blk device's sectors live (docs/disks.md). The I/O methods
// are noexcept and report failure as false: a failed host read or write
// becomes VIRTIO_BLK_S_IOERR for the guest, never an exception.
//
// Threading: one device serves a disk, under its transport's mutex; the
// snapshot engine calls data_extents()/reset_overlay() only while the VM is
// paused.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "amber/error.h"
#include "amber/extent.h"

namespace amber::block {

inline constexpr uint64_t kSectorSize = 512;

// A byte range of the disk (the shared amber::Extent).
using amber::Extent;

class DiskBackend {
 public:
  virtual ~DiskBackend() = default;

  // Bytes; a multiple of kSectorSize (open_disk() checks).
  virtual uint64_t size() const noexcept = 0;
  virtual bool read_only() const noexcept = 0;
  // The user-visible name (the virtio-blk serial, GET_ID).
  virtual std::string id() const = 0;
  // Names the contents for a copy-on-write overlay: an overlay made over a
  // base refuses to open over a base with a different identity.
  virtual std::string identity() const = 0;

  // [off, off + data.size()) must lie inside the disk (the caller checks).
  virtual bool read(uint64_t off, std::span<uint8_t> data) noexcept = 0;
  virtual bool write(uint64_t off, std::span<const uint8_t> data) noexcept = 0;
  virtual bool flush() noexcept = 0;
  // A hint: the range may read back as anything afterwards (virtio 1.2 §5.2.6.2).
  virtual bool discard(uint64_t off, uint64_t len) noexcept = 0;
  // The range reads back as zeros; `unmap` allows deallocating it.
  virtual bool write_zeroes(uint64_t off, uint64_t len, bool unmap) noexcept = 0;

  // The ranges that may hold non-zero data, sorted and disjoint; everything
  // else reads as zeros. Used to embed the disk sparsely in an image.
  virtual std::vector<Extent> data_extents() const = 0;

  // Drops every private write of a copy-on-write disk (in-place VM reset).
  // Throws Error for disks without an overlay.
  virtual void reset_overlay() { throw Error("disk '" + id() + "' has no copy-on-write overlay"); }
};

// Sorts `in`, merges overlapping and touching extents, and drops empty ones.
std::vector<Extent> normalize_extents(std::vector<Extent> in);

}  // namespace amber::block
