#pragma once
// Shared helpers for the snapshot tests: a scratch directory, page-aligned
// guest memory with a recognizable pattern, an in-memory disk.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "amber/mapping.h"
#include "amber/unique_fd.h"
#include "snapshot/image.h"

namespace amber::image::testing {

class TempDir {
 public:
  // Under `parent` (default: the system's temp directory).
  explicit TempDir(const std::filesystem::path& parent = std::filesystem::temp_directory_path()) {
    std::string t = (parent / "amber-img-XXXXXX").string();
    if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    path_ = t;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Guest memory whose listed pages hold a pattern derived from (page, seed).
inline Mapping make_ram(size_t pages, const std::vector<size_t>& data_pages, uint8_t seed = 1) {
  Mapping m = Mapping::anonymous(pages * 4096);
  for (size_t p : data_pages)
    for (size_t b = 0; b < 4096; ++b) m.data()[p * 4096 + b] = static_cast<uint8_t>(p * 31 + b * 7 + seed);
  return m;
}

// A disk held in a vector; extents as given.
struct MemDisk {
  std::vector<uint8_t> bytes;
  DiskIn in(const std::string& name, std::vector<Extent> extents) const {
    DiskIn d;
    d.name = name;
    d.id = name + "-serial";
    d.size = bytes.size();
    d.extents = std::move(extents);
    d.read = [this](uint64_t off, std::span<uint8_t> out) {
      if (off + out.size() > bytes.size()) return false;
      std::copy(bytes.begin() + off, bytes.begin() + off + out.size(), out.begin());
      return true;
    };
    return d;
  }
};

inline StateNode sample_machine() {
  StateNode m;
  m.children["config"].props["mem-size"] = {0, 0, 0, 1, 0, 0, 0, 0};
  m.children["config"].props["cmdline"] = {'c', 'o', 'n', 's', 'o', 'l', 'e'};
  m.children["vcpus"].children["vcpu@0"].props["regs"] = std::vector<uint8_t>(144, 0xab);
  m.children["vcpus"].children["vcpu@1"].props["regs"] = std::vector<uint8_t>(144, 0xcd);
  m.children["devices"].children["uart0"].props["lcr"] = {3};
  m.children["devices"].children["uart0"].props["fifo"] = {};
  m.children["devices"].props["list#count"] = {2, 0, 0, 0};
  return m;
}

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Creates `path` with `bytes`.
inline void write_bytes_new(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

// Edits a file in place; images are written 0444, so it is made writable first.
inline void write_bytes(const std::string& path, uint64_t off, const void* data, size_t len) {
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_GE(fd.get(), 0);
  ASSERT_EQ(::pwrite(fd.get(), data, len, static_cast<off_t>(off)), static_cast<ssize_t>(len));
}

inline void flip_byte(const std::string& path, uint64_t off) {
  auto bytes = read_file(path);
  ASSERT_LT(off, bytes.size());
  uint8_t b = bytes[off] ^ 0x40;
  write_bytes(path, off, &b, 1);
}

}  // namespace amber::image::testing
