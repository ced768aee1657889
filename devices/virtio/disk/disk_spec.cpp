#include "virtio/disk/disk_spec.h"

#include "amber/option_list.h"
#include "virtio/disk/cow_disk.h"
#include "virtio/disk/raw_disk.h"

namespace amber::block {

namespace {
constexpr size_t kMaxId = 256;
}

DiskSpec DiskSpec::parse(std::string_view text) {
  DiskSpec spec;
  auto list = split_option_list(text, "--disk", "file name");
  spec.path = std::string(list.subject);
  for (auto& o : list.options) {
    if (o.key == "ro" && !o.has_value) {
      spec.read_only = true;
    } else if (o.key == "id" && o.has_value) {
      if (o.value.empty() || o.value.size() > kMaxId)
        throw UsageError(fmt::format("--disk: id must be 1 to {} bytes", kMaxId));
      spec.id = std::string(o.value);
    } else if (o.key == "cow") {
      if (o.has_value && o.value.empty()) throw UsageError("--disk: cow= needs an overlay file name");
      spec.cow = true;
      spec.overlay = std::string(o.value);
    } else {
      throw UsageError(fmt::format("--disk: unknown option '{}' (expected ro, id=NAME, cow or cow=OVERLAY)", o.text));
    }
  }
  return spec;
}

std::unique_ptr<DiskBackend> open_disk(const DiskSpec& spec) {
  std::string id = spec.id;
  if (id.empty()) {
    size_t slash = spec.path.find_last_of('/');
    id = slash == std::string::npos ? spec.path : spec.path.substr(slash + 1);
  }
  if (!spec.cow) return RawDisk::open(spec.path, spec.read_only, id);
  // The base of a cow disk is never written, so it may be a read-only file.
  auto base = RawDisk::open(spec.path, /*read_only=*/true, id);
  return CowDisk::open(std::move(base), spec.overlay, spec.read_only, id);
}

}  // namespace amber::block
