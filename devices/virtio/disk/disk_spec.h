#pragma once
// The --disk option: PATH[,ro][,id=NAME][,cow[=OVERLAY]] (docs/disks.md).
#include <memory>
#include <string>
#include <string_view>

#include "virtio/disk/disk_backend.h"

namespace amber::block {

struct DiskSpec {
  std::string path;
  bool read_only = false;
  std::string id;       // empty: the file name (at most 20 bytes are the serial)
  bool cow = false;     // base opened read-only, guest writes go to an overlay
  std::string overlay;  // with cow: the overlay file; empty: a temporary one

  // Throws UsageError for an empty path, an unknown or repeated option, or a
  // bad value.
  static DiskSpec parse(std::string_view text);
  bool operator==(const DiskSpec&) const = default;
};

// Opens the disk a spec describes. Throws Error naming the file and the
// reason: missing, a directory, permission denied, not writable, empty, size
// not a multiple of 512, overlay that does not match its base.
std::unique_ptr<DiskBackend> open_disk(const DiskSpec& spec);

}  // namespace amber::block
