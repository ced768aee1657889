#include "snapshot/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
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


// Creates ".NAME.tmp-XXXXXX" next to `path`, 0600 (an image holds guest
// memory and disks), and sets `name` to it.
UniqueFd named_temp(const std::string& path, std::string& name) {
  std::string tmpl = dir_of(path) + "/." + base_of(path) + ".tmp-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  UniqueFd fd(::mkostemp(buf.data(), O_CLOEXEC));
  if (!fd) throw SysError(fmt::format("{}: create temporary file {}", path, tmpl), errno);
  name = buf.data();
  return fd;
}

}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (base_of(path_).empty()) throw Error(fmt::format("{}: not a file name", path_));
  fd_.reset(::open(dir_of(path_).c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd_) return;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    throw SysError(fmt::format("{}: create temporary file in {}", path_, dir_of(path_)), errno);
  fd_ = named_temp(path_, tmp_);  // no O_TMPFILE on this filesystem
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
  if (sync && ::fsync(fd_.get()) < 0) throw SysError(fmt::format("{}: fsync", path_), errno);
  if (::fchmod(fd_.get(), 0444) < 0) throw SysError(fmt::format("{}: make read-only", path_), errno);
  if (tmp_.empty()) {
    // An O_TMPFILE gets a name with linkat(2) through /proc/self/fd, which
    // unlike AT_EMPTY_PATH needs no CAP_DAC_READ_SEARCH. linkat cannot
    // replace a file, so the name is a temporary one, renamed next.
    std::string name;
    named_temp(path_, name);
    ::unlink(name.c_str());  // reserved a fresh name; a racing creator makes linkat fail with EEXIST
    auto proc = fmt::format("/proc/self/fd/{}", fd_.get());
    if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) < 0)
      throw SysError(fmt::format("{}: link temporary file as {}", path_, name), errno);
    tmp_ = std::move(name);
  }
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
