#include "snapshot/checked_images.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <fmt/core.h>

#include "amber/unique_fd.h"

namespace amber::image {

namespace {

// More records than any one user keeps images: past this, the oldest half
// goes (a pruned record only costs one more check).
constexpr size_t kMaxRecords = 4096;

std::string record_text(const FileIdentity& id) {
  return fmt::format("amber-checked 1 {} {} {} {} {}\n", id.size, id.ctime_sec, id.ctime_nsec, id.metadata_xxh3,
                     id.ino);
}

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

FileIdentity FileIdentity::of(const struct stat& st, uint64_t metadata_xxh3) {
  return {.dev = static_cast<uint64_t>(st.st_dev), .ino = static_cast<uint64_t>(st.st_ino),
          .size = static_cast<uint64_t>(st.st_size), .ctime_sec = st.st_ctim.tv_sec,
          .ctime_nsec = st.st_ctim.tv_nsec, .metadata_xxh3 = metadata_xxh3};
}

CheckedImages CheckedImages::for_this_user() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && x[0] == '/') return CheckedImages(std::string(x) + "/amber/checked");
  if (const char* h = std::getenv("HOME"); h && h[0] == '/') return CheckedImages(std::string(h) + "/.cache/amber/checked");
  return CheckedImages();
}

std::string CheckedImages::record_path(const FileIdentity& id) const {
  return fmt::format("{}/{:x}-{:x}", dir_, id.dev, id.ino);
}

bool CheckedImages::contains(const FileIdentity& id) const noexcept {
  for (auto& r : remembered_)
    if (r == id) return true;
  if (!enabled()) return false;
  try {
    UniqueFd fd(::open(record_path(id).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return false;
    char buf[160];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    return n > 0 && std::string(buf, static_cast<size_t>(n)) == record_text(id);
  } catch (...) {
    return false;
  }
}

bool CheckedImages::settled(const FileIdentity& id) const noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  auto ns = [](int64_t sec, int64_t nsec) { return std::chrono::nanoseconds(sec * 1'000'000'000 + nsec); };
  return ns(id.ctime_sec, id.ctime_nsec) <= ns(now.tv_sec, now.tv_nsec) - settle_;
}

void CheckedImages::add(const FileIdentity& id) const noexcept {
  if (!enabled()) return;
  // The first resume right after a save therefore checks, and a later one
  // records (see settle_ in the header).
  if (!settled(id)) return;
  try {
    // mkdir -p of the last two components (.cache/amber/checked), 0700:
    // records are the user's own.
    std::string parent = dir_.substr(0, dir_.rfind('/'));
    ::mkdir(parent.substr(0, parent.rfind('/')).c_str(), 0700);
    ::mkdir(parent.c_str(), 0700);
    ::mkdir(dir_.c_str(), 0700);
    std::string path = record_path(id), tmp = path + fmt::format(".{}.tmp", ::getpid());
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) return;
    std::string text = record_text(id);
    bool ok = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
    fd.reset();
    if (!ok || ::rename(tmp.c_str(), path.c_str()) < 0) {
      ::unlink(tmp.c_str());
      return;
    }
    prune(dir_);
  } catch (...) {
  }
}

}  // namespace amber::image
