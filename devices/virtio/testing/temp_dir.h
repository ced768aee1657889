#pragma once
// A temporary directory for disk tests, removed with its files.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace amber::block::testing {

class TempDir {
 public:
  TempDir() {
    const char* env = std::getenv("TMPDIR");
    std::string tmpl = std::string(env && *env ? env : "/tmp") + "/amber-disk-test-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  // Creates `name` with `bytes` and the given mode.
  std::string write(const std::string& name, const std::vector<uint8_t>& bytes, mode_t mode = 0644) const {
    std::string p = file(name);
    int fd = ::open(p.c_str(), O_CREAT | O_TRUNC | O_WRONLY, mode);
    if (fd >= 0) {
      if (!bytes.empty() && ::write(fd, bytes.data(), bytes.size()) != ssize_t(bytes.size())) p.clear();
      ::close(fd);
    }
    ::chmod(p.c_str(), mode);
    return p;
  }
  // A sparse file of `size` bytes with `data` at offset `at`.
  std::string sparse(const std::string& name, uint64_t size, uint64_t at = 0, const std::vector<uint8_t>& data = {}) const {
    std::string p = file(name);
    int fd = ::open(p.c_str(), O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (fd >= 0) {
      if (::ftruncate(fd, off_t(size)) != 0) p.clear();
      if (!data.empty() && ::pwrite(fd, data.data(), data.size(), off_t(at)) != ssize_t(data.size())) p.clear();
      ::close(fd);
    }
    return p;
  }
  static std::vector<uint8_t> read_all(const std::string& p) {
    std::vector<uint8_t> out;
    int fd = ::open(p.c_str(), O_RDONLY);
    if (fd < 0) return out;
    struct stat st {};
    ::fstat(fd, &st);
    out.resize(size_t(st.st_size));
    if (::pread(fd, out.data(), out.size(), 0) != ssize_t(out.size())) out.clear();
    ::close(fd);
    return out;
  }
  static uint64_t allocated_bytes(const std::string& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return uint64_t(st.st_blocks) * 512;
  }

 private:
  std::string path_;
};

}  // namespace amber::block::testing
