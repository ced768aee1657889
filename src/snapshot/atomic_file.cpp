#include "snapshot/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber::image {

namespace {
std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}
std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}
}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (base_of(path_).empty()) throw Error(fmt::format("{}: not a file name", path_));
  std::string tmpl = dir_of(path_) + "/." + base_of(path_) + ".tmp-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  // mkstemp creates the file 0600: an image holds guest memory and disks.
  fd_.reset(::mkostemp(buf.data(), O_CLOEXEC));
  if (!fd_) throw SysError(fmt::format("{}: create temporary file {}", path_, tmpl), errno);
  tmp_ = buf.data();
}

AtomicFile::~AtomicFile() {
  fd_.reset();  // closed before the unlink
  if (!committed_ && !tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::write_at(uint64_t offset, std::span<const uint8_t> data) const {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_.get(), data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      throw SysError(fmt::format("{}: write {} bytes at offset {}", path_, data.size() - done, offset + done),
                     n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
}

void AtomicFile::commit(bool sync) {
  if (sync && ::fsync(fd_.get()) < 0) throw SysError(fmt::format("{}: fsync", tmp_), errno);
  if (::rename(tmp_.c_str(), path_.c_str()) < 0)
    throw SysError(fmt::format("{}: rename from {}", path_, tmp_), errno);
  committed_ = true;
  if (sync) {
    // The rename is durable only once the directory entry is on disk.
    UniqueFd dfd(::open(dir_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dfd) throw SysError(fmt::format("{}: open directory to fsync", path_), errno);
    if (::fsync(dfd.get()) < 0) throw SysError(fmt::format("{}: fsync directory", path_), errno);
  }
}

}  // namespace amber::image
