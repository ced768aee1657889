#include "exec/cpio.h"

#include <fmt/core.h>

#include <charconv>

#include "amber/error.h"

namespace amber::exec {

namespace {

constexpr std::string_view kMagic = "070701";
constexpr std::string_view kTrailer = "TRAILER!!!";
constexpr size_t kHeaderSize = 110;  // 6 + 13 * 8
constexpr size_t kMaxName = 4095;

void pad4(std::vector<uint8_t>& out) {
  while (out.size() % 4) out.push_back(0);
}

void check_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxName) throw Error(fmt::format("cpio: bad entry name length {}", name.size()));
  if (name.front() == '/') throw Error(fmt::format("cpio: entry name '{}' must be relative", name));
  if (name.find('\0') != std::string_view::npos) throw Error("cpio: entry name holds a NUL byte");
  if (name == kTrailer) throw Error("cpio: an entry may not be named TRAILER!!!");
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    auto part = name.substr(start, end - start);
    if (part.empty() || part == "." || part == "..")
      throw Error(fmt::format("cpio: entry name '{}' has an empty, '.' or '..' component", name));
    start = end + 1;
  }
}

}  // namespace

void CpioWriter::add(std::string_view name, uint32_t mode, uint32_t rdev_major, uint32_t rdev_minor,
                     std::span<const uint8_t> data) {
  if (data.size() > UINT32_MAX) throw Error(fmt::format("cpio: {} is larger than 4 GiB", name));
  uint32_t nlink = (mode & 0170000) == kCpioDir ? 2 : 1;
  // mtime 0: the archive is the same bytes for the same inputs.
  std::string header = fmt::format("{}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
                                   kMagic, next_ino_++, mode, 0, 0, nlink, 0, data.size(), 0, 0, rdev_major,
                                   rdev_minor, name.size() + 1, 0);
  out_.insert(out_.end(), header.begin(), header.end());
  out_.insert(out_.end(), name.begin(), name.end());
  out_.push_back(0);
  pad4(out_);
  out_.insert(out_.end(), data.begin(), data.end());
  pad4(out_);
}

void CpioWriter::add_dir(std::string_view name, uint32_t perm) {
  check_name(name);
  add(name, kCpioDir | (perm & 07777), 0, 0, {});
}

void CpioWriter::add_file(std::string_view name, std::span<const uint8_t> data, uint32_t perm) {
  check_name(name);
  add(name, kCpioFile | (perm & 07777), 0, 0, data);
}

void CpioWriter::add_char_device(std::string_view name, uint32_t perm, uint32_t major, uint32_t minor) {
  check_name(name);
  add(name, kCpioCharDev | (perm & 07777), major, minor, {});
}

std::vector<uint8_t> CpioWriter::finish() {
  // The trailer is an ordinary header whose name says it is the last.
  next_ino_ = 0;
  add(kTrailer, 0, 0, 0, {});
  std::vector<uint8_t> out = std::move(out_);
  out_.clear();
  next_ino_ = 1;
  return out;
}

std::vector<CpioEntry> parse_cpio(std::span<const uint8_t> a) {
  std::vector<CpioEntry> entries;
  size_t pos = 0;
  auto field = [&](size_t i) {
    const char* p = reinterpret_cast<const char*>(a.data()) + pos + kMagic.size() + 8 * i;
    uint32_t v = 0;
    auto [end, ec] = std::from_chars(p, p + 8, v, 16);
    if (ec != std::errc() || end != p + 8) throw Error(fmt::format("cpio: bad header field {} at offset {}", i, pos));
    return v;
  };
  for (;;) {
    if (pos > a.size() || a.size() - pos < kHeaderSize) throw Error(fmt::format("cpio: truncated header at offset {} (no trailer)", pos));
    if (std::string_view(reinterpret_cast<const char*>(a.data()) + pos, kMagic.size()) != kMagic)
      throw Error(fmt::format("cpio: bad magic at offset {}", pos));
    CpioEntry e;
    e.ino = field(0);
    e.mode = field(1);
    e.nlink = field(4);
    uint32_t size = field(6);
    e.rdev_major = field(9);
    e.rdev_minor = field(10);
    uint32_t namesize = field(11);
    size_t name_at = pos + kHeaderSize;
    if (namesize == 0 || namesize > kMaxName + 1 || a.size() - name_at < namesize)
      throw Error(fmt::format("cpio: bad name size {} at offset {}", namesize, pos));
    if (a[name_at + namesize - 1] != 0) throw Error(fmt::format("cpio: name at offset {} is not NUL-terminated", pos));
    e.name.assign(reinterpret_cast<const char*>(a.data()) + name_at, namesize - 1);
    size_t data_at = (name_at + namesize + 3) & ~size_t(3);
    if (data_at > a.size() || a.size() - data_at < size)
      throw Error(fmt::format("cpio: entry '{}' runs past the end of the archive", e.name));
    if (e.name == kTrailer) return entries;
    e.data.assign(a.begin() + data_at, a.begin() + data_at + size);
    pos = (data_at + size + 3) & ~size_t(3);
    entries.push_back(std::move(e));
  }
}

}  // namespace amber::exec
