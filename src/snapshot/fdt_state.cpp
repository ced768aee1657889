#include "snapshot/fdt_state.h"

extern "C" {
#include <libfdt.h>
}

#include <fmt/core.h>

#include <cstring>

#include "amber/error.h"
#include "snapshot/image_format.h"

namespace amber::image {

namespace {

bool plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ',' || c == '.' ||
         c == '_' || c == '+' || c == '-';
}

std::string escape(std::string_view name, bool node) {
  if (name.empty()) return "%";
  std::string out;
  bool at_seen = false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = plain(c);
    if (!node && (c == '?' || c == '#')) ok = true;
    // A node name may carry one unit address ("vcpu@0"), never a leading '@'.
    if (node && c == '@' && !at_seen && i > 0) ok = at_seen = true;
    if (ok) {
      out += c;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void put_be64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (56 - 8 * i));
}
uint64_t get_be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::string escape_node_name(std::string_view name) { return escape(name, true); }
std::string escape_prop_name(std::string_view name) { return escape(name, false); }

std::optional<std::string> unescape_name(std::string_view name) {
  if (name == "%") return std::string();
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    if (name[i] != '%') {
      out += name[i];
      continue;
    }
    if (i + 2 >= name.size()) return std::nullopt;
    int hi = hex(name[i + 1]), lo = hex(name[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// ---------------------------------------------------------------- writer

FdtWriter::FdtWriter() : buf_(64 * 1024) {
  call([&] { return fdt_create(buf_.data(), static_cast<int>(buf_.size())); }, "create");
  call([&] { return fdt_finish_reservemap(buf_.data()); }, "reserve map");
  begin_node("");
}

template <class F>
void FdtWriter::call(F&& f, const char* what) {
  for (;;) {
    int rc = f();
    if (rc != -FDT_ERR_NOSPACE) {
      if (rc < 0) throw Error(fmt::format("image metadata: fdt {}: {}", what, fdt_strerror(rc)));
      return;
    }
    // libfdt leaves the tree unchanged on NOSPACE: grow and retry.
    if (buf_.size() >= kMetadataMax)
      throw Error(fmt::format("image metadata exceeds the {} MiB cap", kMetadataMax >> 20));
    std::vector<uint8_t> bigger(buf_.size() * 2);
    int r = fdt_resize(buf_.data(), bigger.data(), static_cast<int>(bigger.size()));
    if (r < 0) throw Error(fmt::format("image metadata: fdt resize: {}", fdt_strerror(r)));
    buf_ = std::move(bigger);
  }
}

namespace {
// The reader's name cap, enforced when writing: a save fails rather than
// writing an image no reader accepts.
void check_name(const std::string& name) {
  if (name.size() > kMaxNameLen)
    throw Error(fmt::format("image metadata: name '{}...' is {} bytes, above the cap of {}", name.substr(0, 32),
                            name.size(), kMaxNameLen));
}
}  // namespace

void FdtWriter::begin_node(const std::string& name) {
  check_name(name);
  call([&] { return fdt_begin_node(buf_.data(), name.c_str()); }, "begin node");
}
void FdtWriter::end_node() {
  call([&] { return fdt_end_node(buf_.data()); }, "end node");
}
void FdtWriter::prop(const std::string& name, std::span<const uint8_t> v) {
  check_name(name);
  if (v.size() > kMetadataMax) throw Error(fmt::format("image metadata: property {} too large", name));
  call([&] { return fdt_property(buf_.data(), name.c_str(), v.data(), static_cast<int>(v.size())); }, "property");
}
void FdtWriter::prop_str(const std::string& name, std::string_view s) {
  prop(name, {reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}
void FdtWriter::prop_u64(const std::string& name, uint64_t v) {
  uint8_t b[8];
  put_be64(b, v);
  prop(name, b);
}
void FdtWriter::prop_u64s(const std::string& name, const std::vector<uint64_t>& v) {
  std::vector<uint8_t> b(v.size() * 8);
  for (size_t i = 0; i < v.size(); ++i) put_be64(b.data() + 8 * i, v[i]);
  prop(name, b);
}

std::vector<uint8_t> FdtWriter::finish() {
  end_node();  // root
  call([&] { return fdt_finish(buf_.data()); }, "finish");
  buf_.resize(fdt_totalsize(buf_.data()));
  return std::move(buf_);
}

void write_state(FdtWriter& w, const StateNode& node) {
  // FDT requires a node's properties before its subnodes.
  for (auto& [name, value] : node.props) w.prop(escape_prop_name(name), value);
  for (auto& [name, child] : node.children) {
    w.begin_node(escape_node_name(name));
    write_state(w, child);
    w.end_node();
  }
}

// ---------------------------------------------------------------- reader

void FdtReader::fail(const std::string& where, const std::string& why) const {
  throw Error(fmt::format("{}: metadata {}: {}", file_, where, why));
}

int FdtReader::subnode(int parent, const char* name) const {
  int off = fdt_subnode_offset(fdt_, parent, name);
  return off < 0 ? -1 : off;
}

std::optional<std::span<const uint8_t>> FdtReader::prop(int node, const char* name) const {
  int len = 0;
  auto* p = static_cast<const uint8_t*>(fdt_getprop(fdt_, node, name, &len));
  if (!p || len < 0) return std::nullopt;
  return std::span<const uint8_t>(p, static_cast<size_t>(len));
}

std::optional<uint64_t> FdtReader::opt_u64(int node, const char* name, const std::string& where) const {
  auto p = prop(node, name);
  if (!p) return std::nullopt;
  if (p->size() != 8) fail(where, fmt::format("property '{}' has {} bytes, expected 8", name, p->size()));
  return get_be64(p->data());
}

uint64_t FdtReader::u64(int node, const char* name, const std::string& where) const {
  auto v = opt_u64(node, name, where);
  if (!v) fail(where, fmt::format("missing property '{}'", name));
  return *v;
}

std::string FdtReader::str(int node, const char* name, const std::string& where, bool required) const {
  auto p = prop(node, name);
  if (!p) {
    if (required) fail(where, fmt::format("missing property '{}'", name));
    return {};
  }
  if (p->size() > kMaxStringProp) fail(where, fmt::format("property '{}' is {} bytes long", name, p->size()));
  return std::string(p->begin(), p->end());
}

std::vector<uint64_t> FdtReader::u64s(int node, const char* name, const std::string& where, size_t group) const {
  auto p = prop(node, name);
  if (!p) return {};
  if (p->size() % (8 * group))
    fail(where, fmt::format("property '{}' has {} bytes, not a multiple of {}", name, p->size(), 8 * group));
  std::vector<uint64_t> v(p->size() / 8);
  for (size_t i = 0; i < v.size(); ++i) v[i] = get_be64(p->data() + 8 * i);
  return v;
}

StateNode FdtReader::state(int node, const std::string& where) const {
  uint64_t items = 0;
  return state(node, where, 0, items);
}

std::string FdtReader::name(const char* raw, int len, const std::string& where, const char* kind) const {
  if (!raw || len < 0) fail(where, fmt::format("unreadable {} name", kind));
  if (static_cast<uint64_t>(len) > kMaxNameLen)
    fail(where, fmt::format("{} name of {} bytes (the cap is {})", kind, len, kMaxNameLen));
  auto out = unescape_name(std::string_view(raw, static_cast<size_t>(len)));
  if (!out) fail(where, fmt::format("bad {} name '{}'", kind, std::string_view(raw, static_cast<size_t>(len))));
  return *out;
}

StateNode FdtReader::state(int node, const std::string& where, int depth, uint64_t& items) const {
  if (depth > kMaxStateDepth) fail(where, fmt::format("state nested deeper than {}", kMaxStateDepth));
  auto count = [&] {
    if (++items > kMaxStateItems) fail(where, fmt::format("more than {} state nodes and properties", kMaxStateItems));
  };
  StateNode out;
  int prop_off;
  fdt_for_each_property_offset(prop_off, fdt_, node) {
    count();
    const char* raw_name = nullptr;
    int len = 0;
    auto* v = static_cast<const uint8_t*>(fdt_getprop_by_offset(fdt_, prop_off, &raw_name, &len));
    if (!v || !raw_name || len < 0) fail(where, "unreadable property");
    auto prop_name = name(raw_name, static_cast<int>(::strnlen(raw_name, kMaxNameLen + 1)), where, "property");
    if (!out.props.emplace(prop_name, std::vector<uint8_t>(v, v + len)).second)
      fail(where, fmt::format("duplicate property '{}'", prop_name));
  }
  if (prop_off != -FDT_ERR_NOTFOUND) fail(where, fmt::format("bad property list: {}", fdt_strerror(prop_off)));
  int child;
  fdt_for_each_subnode(child, fdt_, node) {
    count();
    int len = 0;
    const char* raw_name = fdt_get_name(fdt_, child, &len);
    auto node_name = name(raw_name, len, where, "node");
    std::string sub = where + "/" + std::string(raw_name, static_cast<size_t>(len));
    auto [it, fresh] = out.children.emplace(node_name, StateNode{});
    if (!fresh) fail(where, fmt::format("duplicate node '{}'", node_name));
    it->second = state(child, sub, depth + 1, items);
  }
  if (child != -FDT_ERR_NOTFOUND) fail(where, fmt::format("bad node list: {}", fdt_strerror(child)));
  return out;
}

void check_fdt_strings(const void* fdt, const std::string& file) {
  auto* base = static_cast<const char*>(fdt) + fdt_off_dt_strings(fdt);
  uint32_t size = fdt_size_dt_strings(fdt);
  uint32_t run = 0;
  for (uint32_t i = 0; i < size; ++i) {
    if (base[i] == '\0') {
      run = 0;
    } else if (++run > kMaxNameLen) {
      throw Error(fmt::format("{}: metadata: a property name at strings offset {} is longer than {} bytes", file,
                              i + 1 - run, kMaxNameLen));
    }
  }
}

}  // namespace amber::image
