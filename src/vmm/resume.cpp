#include "vmm/resume.h"

#include <xxhash.h>

#include <fmt/core.h>

#include "virtio/disk/cow_disk.h"
#include "virtio/disk/raw_disk.h"
#include "vmm/machine_config_state.h"

namespace amber::vmm {

std::unique_ptr<Machine> resume_machine(hv::Hypervisor& hv, const image::Image& img, const ResumeOptions& opts,
                                        Console* console) {
  auto mark = [&](const char* p) {
    if (opts.mark) opts.mark(p);
  };
  auto cfg = from_state(load_state<ConfigState>(img.machine().require_child("config"), "config"));
  cfg.anonymous_memory = false;
  if (img.disks().size() != cfg.disks.size())
    throw Error(fmt::format("{}: the disk list does not match the machine configuration", img.path()));
  for (auto& [name, path] : opts.overlays) {
    bool known = false;
    for (auto& d : cfg.disks) known |= d.name == name;
    if (!known) throw UsageError(fmt::format("resume: --disk-overlay: the image has no disk '{}'", name));
  }

  // A warm VM of the image's shape: its RAM goes where the VM's memory
  // slots already point, and the VM is not created again.
  hv::Hypervisor* use = &hv;
  image::LazyOptions lazy = opts.lazy;
  if (opts.warm) {
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (auto& r : img.ram_regions()) ranges.emplace_back(r.gpa, r.size);
    std::string why = opts.warm->mismatch(cfg.cpus, ranges);
    if (why.empty()) {
      lazy.place_at = opts.warm->ram_addresses();
      use = &opts.warm->take();
    } else if (opts.cold) {
      *opts.cold = why;
    }
  }
  // zstd regions are filled lazily (lazy_ram.h): the guest starts at once.
  auto ram = image::map_ram_lazily(img, std::move(lazy));
  GuestMemory mem;
  for (size_t i = 0; i < img.ram_regions().size(); ++i) mem.add_region(img.ram_regions()[i].gpa, std::move(ram.regions[i]));
  // Declared after `mem`: when a later step throws, the fill stops before
  // the memory it fills is unmapped.
  std::unique_ptr<image::LazyFill> fill = std::move(ram.fill);
  mark("map RAM");

  std::vector<std::unique_ptr<block::DiskBackend>> disks;
  for (auto& d : img.disks()) {
    // The embedded disk is a read-only base; the guest's writes go to a
    // private overlay, so running an image never changes it (docs/disks.md).
    // The overlay's base identity comes from the embedded data's checksums,
    // so a named overlay matches the same image wherever it was copied to.
    std::string identity = fmt::format("amber-image-disk:{}:{}", d.name, d.size);
    for (auto& e : d.extents) identity += fmt::format(":{:x}", e.xxh3);
    identity = fmt::format("amber-image-disk:{}:{}:{:016x}", d.name, d.size, XXH3_64bits(identity.data(), identity.size()));
    // Only the checked extents are read from the file, each where the
    // image stored it (at its disk offset in 1.0, packed in 1.1); holes are
    // zeros. Reads stay lazy: pread on demand, nothing is loaded here, and
    // each extent is compared with its checksum on its first read.
    std::vector<StoredExtent> data;
    std::vector<uint64_t> sums;
    data.reserve(d.extents.size());
    sums.reserve(d.extents.size());
    for (auto& e : d.extents) {
      data.push_back({{e.offset, e.length}, e.stored});
      sums.push_back(e.xxh3);
    }
    auto base = block::RawDisk::range_mapped(img.fd(), d.file_offset, d.size, std::move(data), d.id, identity,
                                             std::move(sums));
    auto it = opts.overlays.find(d.name);
    disks.push_back(block::CowDisk::open(std::move(base), it == opts.overlays.end() ? "" : it->second, d.read_only, d.id));
  }
  mark("open disks");

  auto m = std::make_unique<Machine>(*use, cfg, std::move(mem), std::move(disks), console);
  mark("create VM");
  m->restore_state(img.machine());
  mark("restore state");
  m->set_origin(&img);  // for an in-place reset (docs/api.md)
  m->set_lazy_fill(std::move(fill));
  return m;
}

}  // namespace amber::vmm
