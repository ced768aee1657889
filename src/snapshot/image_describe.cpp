// Image::describe: the text and JSON behind `amber inspect`.
#include <ctime>

#include <fmt/core.h>

#include "snapshot/image.h"
#include "snapshot/image_format.h"
#include "snapshot/image_metadata.h"

namespace amber::image {

namespace {

std::string json_str(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\u{:04x}", c);  // bytes, not UTF-8: state names are arbitrary
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

// An image string for a terminal: control bytes, DEL, bytes >= 0x80 and '\'
// as \xNN / \\, so a hostile image cannot send escape sequences to the
// terminal of whoever inspects it.
std::string text(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string utc(uint64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (!gmtime_r(&tt, &tm)) return "?";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

template <class E>
uint64_t sum(const std::vector<E>& v) {
  uint64_t n = 0;
  for (auto& e : v) n += e.length;
  return n;
}

// Machine tree: names and property sizes (values are for `format_state`).
void machine_text(std::string& out, const StateNode& n, int depth) {
  std::string pad(2 * depth + 2, ' ');
  for (auto& [name, v] : n.props) out += fmt::format("{}{}: {} bytes\n", pad, text(name), v.size());
  for (auto& [name, c] : n.children) {
    out += fmt::format("{}{}/\n", pad, text(name));
    machine_text(out, c, depth + 1);
  }
}

std::string machine_json(const StateNode& n) {
  std::string out = "{\"props\":{";
  bool first = true;
  for (auto& [name, v] : n.props) {
    out += fmt::format("{}{}:{}", first ? "" : ",", json_str(name), v.size());
    first = false;
  }
  out += "},\"children\":{";
  first = true;
  for (auto& [name, c] : n.children) {
    out += fmt::format("{}{}:{}", first ? "" : ",", json_str(name), machine_json(c));
    first = false;
  }
  return out + "}}";
}

std::string extents_json(const std::vector<CheckedExtent>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i)
    out += fmt::format("{}{{\"offset\":{},\"length\":{},\"xxh3\":\"{:016x}\"}}", i ? "," : "", v[i].offset,
                       v[i].length, v[i].xxh3);
  return out + "]";
}

// A disk's extents: as above, plus where each lies in the section.
std::string disk_extents_json(const std::vector<DiskExtent>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i)
    out += fmt::format("{}{{\"offset\":{},\"length\":{},\"stored_offset\":{},\"xxh3\":\"{:016x}\"}}", i ? "," : "",
                       v[i].offset, v[i].length, v[i].stored, v[i].xxh3);
  return out + "]";
}

}  // namespace

std::string Image::describe(bool json) const {
  if (!json) {
    std::string out = fmt::format("{}: amber image format {}.{}, {} bytes\n", path_, info_.major, info_.minor, file_size_);
    if (info_.incompat || info_.compat)
      out += fmt::format("  features: incompat {:#x}{}, compat {:#x}\n", info_.incompat,
                         info_.incompat & kIncompatPackedDisks ? " (packed-disks)" : "", info_.compat);
    out += fmt::format("  writer: {}\n  created: {} ({})\n", text(info_.writer), utc(info_.created_unix),
                       info_.created_unix);
    out += fmt::format("  cmdline: {}\n  note: {}\n", text(info_.cmdline), text(info_.note));
    out += fmt::format("  header: 0..{}\n  metadata: offset {}, {} bytes, xxh3 {:016x}\n", header_size_,
                       metadata_offset_, metadata_size_, metadata_xxh3_);
    for (size_t i = 0; i < ram_.size(); ++i) {
      auto& r = ram_[i];
      out += fmt::format("  ram region {}: gpa {:#x}, {} bytes, codec {}, file offset {}, stored {} bytes", i, r.gpa,
                         r.size, codec_name(r.codec), r.file_offset, r.stored_size);
      if (!r.compressed()) {
        out += fmt::format(", {} runs, {} data bytes\n", r.runs.size(), sum(r.runs));
        for (size_t j = 0; j < r.runs.size(); ++j)
          out += fmt::format("    run {}: offset {:#x}, {} bytes, xxh3 {:016x}\n", j, r.runs[j].offset,
                             r.runs[j].length, r.runs[j].xxh3);
      } else {
        out += fmt::format(", chunk size {}, {} chunks\n", r.chunk_size, r.chunks.size());
        for (size_t j = 0; j < r.chunks.size(); ++j) {
          auto& c = r.chunks[j];
          out += fmt::format("    chunk {}: offset {:#x}, {} -> {} bytes at +{}, xxh3 {:016x}/{:016x}\n", j, c.offset,
                             c.length, c.frame_size, c.frame_offset, c.xxh3_raw, c.xxh3_frame);
        }
      }
    }
    for (size_t i = 0; i < disks_.size(); ++i) {
      auto& d = disks_[i];
      out += fmt::format("  disk {}: name '{}', id '{}', {}, {} bytes, {} layout, file offset {}, stored {} bytes, "
                         "{} extents, {} data bytes\n",
                         i, text(d.name), text(d.id), d.read_only ? "read-only" : "read-write", d.size,
                         d.packed ? "packed" : "in-place", d.file_offset, d.stored_size, d.extents.size(),
                         sum(d.extents));
      for (size_t j = 0; j < d.extents.size(); ++j) {
        auto& e = d.extents[j];
        out += fmt::format("    extent {}: offset {}, {} bytes", j, e.offset, e.length);
        if (d.packed) out += fmt::format(" at +{}", e.stored);
        out += fmt::format(", xxh3 {:016x}\n", e.xxh3);
      }
    }
    out += "  machine:\n";
    machine_text(out, machine_, 1);
    return out;
  }

  std::string out = fmt::format(
      "{{\"path\":{},\"format\":{{\"major\":{},\"minor\":{},\"incompat\":{},\"compat\":{}}},\"file_size\":{}",
      json_str(path_), info_.major, info_.minor, info_.incompat, info_.compat, file_size_);
  out += fmt::format(",\"writer\":{},\"created\":{},\"cmdline\":{},\"note\":{}", json_str(info_.writer),
                     info_.created_unix, json_str(info_.cmdline), json_str(info_.note));
  out += fmt::format(",\"header\":{{\"size\":{}}},\"metadata\":{{\"offset\":{},\"size\":{},\"xxh3\":\"{:016x}\"}}",
                     header_size_, metadata_offset_, metadata_size_, metadata_xxh3_);
  out += ",\"ram\":[";
  for (size_t i = 0; i < ram_.size(); ++i) {
    auto& r = ram_[i];
    out += fmt::format("{}{{\"gpa\":{},\"size\":{},\"codec\":\"{}\",\"file_offset\":{},\"stored_size\":{}", i ? "," : "",
                       r.gpa, r.size, codec_name(r.codec), r.file_offset, r.stored_size);
    if (!r.compressed()) {
      out += ",\"runs\":" + extents_json(r.runs) + "}";
      continue;
    }
    out += fmt::format(",\"chunk_size\":{},\"chunks\":[", r.chunk_size);
    for (size_t j = 0; j < r.chunks.size(); ++j) {
      auto& c = r.chunks[j];
      out += fmt::format(
          "{}{{\"offset\":{},\"length\":{},\"frame_offset\":{},\"frame_size\":{},\"xxh3_raw\":\"{:016x}\","
          "\"xxh3_frame\":\"{:016x}\"}}",
          j ? "," : "", c.offset, c.length, c.frame_offset, c.frame_size, c.xxh3_raw, c.xxh3_frame);
    }
    out += "]}";
  }
  out += "],\"disks\":[";
  for (size_t i = 0; i < disks_.size(); ++i) {
    auto& d = disks_[i];
    out += fmt::format(
        "{}{{\"name\":{},\"id\":{},\"read_only\":{},\"size\":{},\"layout\":\"{}\",\"file_offset\":{},"
        "\"stored_size\":{},\"extents\":{}}}",
        i ? "," : "", json_str(d.name), json_str(d.id), d.read_only, d.size, d.packed ? "packed" : "in-place",
        d.file_offset, d.stored_size, disk_extents_json(d.extents));
  }
  out += "],\"machine\":" + machine_json(machine_) + "}";
  return out;
}

}  // namespace amber::image
