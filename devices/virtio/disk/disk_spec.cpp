#include "virtio/disk/disk_spec.h"

#include "virtio/disk/cow_disk.h"
#include "virtio/disk/raw_disk.h"

namespace amber::block {

namespace {
constexpr size_t kMaxId = 256;
}

DiskSpec DiskSpec::parse(std::string_view text) {
  DiskSpec spec;
  size_t comma = text.find(',');
  spec.path = std::string(text.substr(0, comma));
  if (spec.path.empty()) throw UsageError(fmt::format("--disk '{}': missing file name", text));
  bool seen_ro = false, seen_id = false;
  while (comma != std::string_view::npos) {
    text.remove_prefix(comma + 1);
    comma = text.find(',');
    std::string_view opt = text.substr(0, comma);
    std::string_view key = opt.substr(0, opt.find('='));
    bool has_value = key.size() != opt.size();
    std::string_view value = has_value ? opt.substr(key.size() + 1) : std::string_view{};
    bool repeated = false;
    if (key == "ro" && !has_value) {
      repeated = std::exchange(seen_ro, true);
      spec.read_only = true;
    } else if (key == "id" && has_value) {
      repeated = std::exchange(seen_id, true);
      if (value.empty() || value.size() > kMaxId) throw UsageError(fmt::format("--disk: id must be 1 to {} bytes", kMaxId));
      spec.id = std::string(value);
    } else if (key == "cow") {
      repeated = std::exchange(spec.cow, true);
      if (has_value && value.empty()) throw UsageError("--disk: cow= needs an overlay file name");
      spec.overlay = std::string(value);
    } else {
      throw UsageError(fmt::format("--disk: unknown option '{}' (expected ro, id=NAME, cow or cow=OVERLAY)", opt));
    }
    if (repeated) throw UsageError(fmt::format("--disk: option '{}' given twice", key));
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
