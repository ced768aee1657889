#pragma once
// A byte range [offset, offset + length): a disk's allocated data
// (DiskBackend::data_extents), the ranges a save embeds (image::DiskIn), and,
// with a checksum added, the runs and extents an image stores
// (image::CheckedExtent, image::DiskExtent).
#include <cstdint>

namespace amber {

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t end() const { return offset + length; }
  bool operator==(const Extent&) const = default;
};

// A piece of an embedded disk: disk bytes [offset, offset + length) lie at
// `stored` relative to the start of the disk's section in the image file
// (= offset in the 1.0 in-place layout; packed one after another in 1.1,
// docs/image-format.md).
struct StoredExtent : Extent {
  uint64_t stored = 0;
  bool operator==(const StoredExtent&) const = default;
};

}  // namespace amber
