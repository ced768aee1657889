#pragma once
// A byte range [offset, offset + length): a disk's allocated data
// (DiskBackend::data_extents), the ranges a save embeds (image::DiskIn), and,
// with a checksum added, the runs and extents an image stores
// (image::CheckedExtent).
#include <cstdint>

namespace amber {

struct Extent {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t end() const { return offset + length; }
  bool operator==(const Extent&) const = default;
};

}  // namespace amber
