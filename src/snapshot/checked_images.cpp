#include "snapshot/checked_images.h"

#include <fmt/core.h>

#include <ctime>

#include "snapshot/record_dir.h"

namespace amber::image {

namespace {

std::string record_text(const FileIdentity& id) {
  return fmt::format("amber-checked 1 {} {} {} {} {}\n", id.size, id.ctime_sec, id.ctime_nsec, id.metadata_xxh3,
                     id.ino);
}

}  // namespace

FileIdentity FileIdentity::of(const struct stat& st, uint64_t metadata_xxh3) {
  return {.dev = static_cast<uint64_t>(st.st_dev), .ino = static_cast<uint64_t>(st.st_ino),
          .size = static_cast<uint64_t>(st.st_size), .ctime_sec = st.st_ctim.tv_sec,
          .ctime_nsec = st.st_ctim.tv_nsec, .metadata_xxh3 = metadata_xxh3};
}

CheckedImages CheckedImages::for_this_user() { return CheckedImages(user_record_dir("checked")); }

std::string CheckedImages::record_name(const FileIdentity& id) { return fmt::format("{:x}-{:x}", id.dev, id.ino); }

bool CheckedImages::contains(const FileIdentity& id) const noexcept {
  for (auto& r : remembered_)
    if (r == id) return true;
  try {
    auto text = read_record(dir_, record_name(id), 160);
    return text && *text == record_text(id);
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
    write_record(dir_, record_name(id), record_text(id));
  } catch (...) {
  }
}

}  // namespace amber::image
