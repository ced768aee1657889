#include "snapshot/image_metadata.h"

extern "C" {
#include <libfdt.h>
}

#include <fmt/core.h>

#include "amber/error.h"
#include "snapshot/fdt_state.h"
#include "snapshot/image_format.h"

namespace amber::image {

const char* codec_name(Codec c) { return c == Codec::kZstd ? "zstd" : "raw"; }

namespace {

std::vector<uint64_t> flatten(const std::vector<CheckedExtent>& v) {
  std::vector<uint64_t> out;
  out.reserve(v.size() * 3);
  for (auto& e : v) out.insert(out.end(), {e.offset, e.length, e.xxh3});
  return out;
}

std::vector<CheckedExtent> unflatten(const std::vector<uint64_t>& v) {
  std::vector<CheckedExtent> out(v.size() / 3);
  for (size_t i = 0; i < out.size(); ++i) out[i] = {v[3 * i], v[3 * i + 1], v[3 * i + 2]};
  return out;
}

}  // namespace

std::vector<uint8_t> build_metadata(const ImageInfo& info, const StateNode& machine,
                                    const std::vector<Image::RamRegion>& ram,
                                    const std::vector<Image::Disk>& disks) {
  FdtWriter w;
  w.begin_node("image");
  w.prop_str("writer", info.writer);
  w.prop_u64("created", info.created_unix);
  w.prop_str("cmdline", info.cmdline);
  w.prop_str("note", info.note);
  w.end_node();

  w.begin_node("ram");
  for (size_t i = 0; i < ram.size(); ++i) {
    auto& r = ram[i];
    w.begin_node(fmt::format("region@{}", i));
    w.prop_u64("gpa", r.gpa);
    w.prop_u64("size", r.size);
    w.prop_u64("file-offset", r.file_offset);
    w.prop_u64("stored-size", r.stored_size);
    w.prop_str("codec", codec_name(r.codec));
    if (r.compressed()) {
      w.prop_u64("chunk-size", r.chunk_size);
      std::vector<uint64_t> t;
      t.reserve(r.chunks.size() * 6);
      for (auto& c : r.chunks) t.insert(t.end(), {c.offset, c.length, c.frame_offset, c.frame_size, c.xxh3_raw, c.xxh3_frame});
      w.prop_u64s("chunks", t);
    } else {
      w.prop_u64s("runs", flatten(r.runs));
    }
    w.end_node();
  }
  w.end_node();

  w.begin_node("disks");
  for (size_t i = 0; i < disks.size(); ++i) {
    auto& d = disks[i];
    w.begin_node(fmt::format("disk@{}", i));
    w.prop_str("name", d.name);
    w.prop_str("id", d.id);
    if (d.read_only) w.prop("read-only", {});
    w.prop_u64("size", d.size);
    w.prop_u64("file-offset", d.file_offset);
    if (d.packed) {
      // 1.1 packed layout: a fourth column says where each extent lies.
      w.prop_str("layout", "packed");
      w.prop_u64("stored-size", d.stored_size);
      std::vector<uint64_t> t;
      t.reserve(d.extents.size() * 4);
      for (auto& e : d.extents) t.insert(t.end(), {e.offset, e.length, e.xxh3, e.stored});
      w.prop_u64s("extents", t);
    } else {
      std::vector<uint64_t> t;
      t.reserve(d.extents.size() * 3);
      for (auto& e : d.extents) t.insert(t.end(), {e.offset, e.length, e.xxh3});
      w.prop_u64s("extents", t);
    }
    w.end_node();
  }
  w.end_node();

  w.begin_node("machine");
  write_state(w, machine);
  w.end_node();
  auto blob = w.finish();
  if (blob.size() > kMetadataMax)
    throw Error(fmt::format("image metadata is {} bytes, above the {} MiB cap", blob.size(), kMetadataMax >> 20));
  return blob;
}

Metadata parse_metadata(std::span<const uint8_t> blob, const std::string& file) {
  const void* fdt = blob.data();
  // fdt_check_full walks the whole structure block with bounds checks, so the
  // accessors below never read outside `blob`.
  if (blob.size() < sizeof(fdt_header)) throw Error(fmt::format("{}: metadata: too small for a device tree", file));
  // The header (block offsets inside the blob) first, then the names' length
  // cap, which keeps fdt_check_full linear in the blob's size.
  int rc = fdt_check_header(fdt);
  if (rc < 0 || fdt_totalsize(fdt) > blob.size())
    throw Error(fmt::format("{}: metadata: not a valid device tree: {}", file,
                            rc < 0 ? fdt_strerror(rc) : "header says it is larger than the blob"));
  check_fdt_strings(fdt, file);
  rc = fdt_check_full(fdt, blob.size());
  if (rc < 0) throw Error(fmt::format("{}: metadata: not a valid device tree: {}", file, fdt_strerror(rc)));
  if (fdt_totalsize(fdt) != blob.size())
    throw Error(fmt::format("{}: metadata: device tree is {} bytes, header says {}", file, fdt_totalsize(fdt),
                            blob.size()));
  FdtReader rd(fdt, file);
  Metadata m;

  int img = rd.subnode(0, "image");
  if (img < 0) rd.fail("/", "missing node /image");
  m.info.writer = rd.str(img, "writer", "/image");
  m.info.created_unix = rd.opt_u64(img, "created", "/image").value_or(0);
  m.info.cmdline = rd.str(img, "cmdline", "/image");
  m.info.note = rd.str(img, "note", "/image");

  // Children are numbered 0, 1, ... in order; other names are a newer
  // writer's additions and are skipped.
  int ram = rd.subnode(0, "ram");
  if (ram < 0) rd.fail("/", "missing node /ram");
  int node;
  fdt_for_each_subnode(node, fdt, ram) {
    const char* raw = fdt_get_name(fdt, node, nullptr);
    if (!raw) rd.fail("/", "unreadable node name");
    std::string name = raw;
    if (name.rfind("region@", 0) != 0) continue;
    std::string where = "/ram/" + name;
    if (m.ram.size() >= kMaxRegions) rd.fail("/ram", fmt::format("more than {} regions", kMaxRegions));
    if (name != fmt::format("region@{}", m.ram.size())) rd.fail(where, "regions out of order");
    Image::RamRegion r;
    r.gpa = rd.u64(node, "gpa", where);
    r.size = rd.u64(node, "size", where);
    r.file_offset = rd.u64(node, "file-offset", where);
    r.stored_size = rd.u64(node, "stored-size", where);
    std::string codec = rd.str(node, "codec", where, true);
    if (codec == "raw") {
      r.codec = Codec::kRaw;
      r.runs = unflatten(rd.u64s(node, "runs", where, 3));
    } else if (codec == "zstd") {
      r.codec = Codec::kZstd;
      r.chunk_size = rd.u64(node, "chunk-size", where);
      auto t = rd.u64s(node, "chunks", where, 6);
      r.chunks.resize(t.size() / 6);
      for (size_t i = 0; i < r.chunks.size(); ++i) {
        auto* c = &t[6 * i];
        r.chunks[i] = {c[0], c[1], c[2], c[3], c[4], c[5]};
      }
    } else {
      rd.fail(where, fmt::format("unknown codec '{}' (written by a newer amber?)", codec));
    }
    m.ram.push_back(std::move(r));
  }

  int disks = rd.subnode(0, "disks");
  if (disks >= 0) {
    fdt_for_each_subnode(node, fdt, disks) {
      const char* raw = fdt_get_name(fdt, node, nullptr);
    if (!raw) rd.fail("/", "unreadable node name");
    std::string name = raw;
      if (name.rfind("disk@", 0) != 0) continue;
      std::string where = "/disks/" + name;
      if (m.disks.size() >= kMaxDisks) rd.fail("/disks", fmt::format("more than {} disks", kMaxDisks));
      if (name != fmt::format("disk@{}", m.disks.size())) rd.fail(where, "disks out of order");
      Image::Disk d;
      d.name = rd.str(node, "name", where);
      d.id = rd.str(node, "id", where);
      d.read_only = rd.prop(node, "read-only").has_value();
      d.size = rd.u64(node, "size", where);
      d.file_offset = rd.u64(node, "file-offset", where);
      bool has_layout = rd.prop(node, "layout").has_value();
      std::string layout = rd.str(node, "layout", where);
      if (has_layout && layout == "packed") {
        d.packed = true;
        d.stored_size = rd.u64(node, "stored-size", where);
        auto t = rd.u64s(node, "extents", where, 4);
        d.extents.resize(t.size() / 4);
        for (size_t i = 0; i < d.extents.size(); ++i) {
          auto* e = &t[4 * i];
          d.extents[i] = {{{e[0], e[1]}, e[2]}, e[3]};
        }
      } else if (!has_layout) {
        // 1.0 in-place layout: disk offset x lies at file-offset + x.
        d.stored_size = d.size;
        auto t = rd.u64s(node, "extents", where, 3);
        d.extents.resize(t.size() / 3);
        for (size_t i = 0; i < d.extents.size(); ++i) d.extents[i] = {{{t[3 * i], t[3 * i + 1]}, t[3 * i + 2]}, t[3 * i]};
      } else {
        rd.fail(where, fmt::format("unknown disk layout '{}' (written by a newer amber?)", layout));
      }
      m.disks.push_back(std::move(d));
    }
  }

  int machine = rd.subnode(0, "machine");
  if (machine < 0) rd.fail("/", "missing node /machine");
  m.machine = rd.state(machine, "/machine");
  return m;
}

}  // namespace amber::image
