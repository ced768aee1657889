#include "snapshot/record_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include <fmt/core.h>

#include "amber/unique_fd.h"

namespace amber::image {

namespace {

// More records than any one user keeps images: past this, the oldest half
// goes (a pruned record only costs the work it saved once more).
constexpr size_t kMaxRecords = 4096;

void prune(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  std::vector<std::pair<int64_t, std::string>> records;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    struct stat st {};
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) records.emplace_back(st.st_mtime, name);
  }
  ::closedir(d);
  if (records.size() <= kMaxRecords) return;
  std::sort(records.begin(), records.end());
  for (size_t i = 0; i < records.size() / 2; ++i) ::unlink((dir + "/" + records[i].second).c_str());
}

}  // namespace

std::string user_record_dir(std::string_view leaf) {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && x[0] == '/') return fmt::format("{}/amber/{}", x, leaf);
  if (const char* h = std::getenv("HOME"); h && h[0] == '/') return fmt::format("{}/.cache/amber/{}", h, leaf);
  return {};
}

void write_record(const std::string& dir, const std::string& name, const std::string& text) noexcept {
  if (dir.empty()) return;
  try {
    // mkdir -p of the last three components (.cache/amber/LEAF).
    std::string parent = dir.substr(0, dir.rfind('/'));
    ::mkdir(parent.substr(0, parent.rfind('/')).c_str(), 0700);
    ::mkdir(parent.c_str(), 0700);
    ::mkdir(dir.c_str(), 0700);
    std::string path = dir + "/" + name, tmp = path + fmt::format(".{}.tmp", ::getpid());
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return;
    bool ok = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
    fd.reset();
    if (!ok || ::rename(tmp.c_str(), path.c_str()) < 0) {
      ::unlink(tmp.c_str());
      return;
    }
    prune(dir);
  } catch (...) {
  }
}

std::optional<std::string> read_record(const std::string& dir, const std::string& name, size_t max) noexcept {
  if (dir.empty()) return std::nullopt;
  try {
    UniqueFd fd(::open((dir + "/" + name).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) < 0 || !S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > max)
      return std::nullopt;
    std::string text(static_cast<size_t>(st.st_size), '\0');
    size_t got = 0;
    while (got < text.size()) {
      ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
      if (n <= 0) return std::nullopt;
      got += static_cast<size_t>(n);
    }
    return text;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace amber::image
