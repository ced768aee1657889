// Records of image files whose every RAM run was read and matched its
// checksum (issue 11: "every byte checked or never read").
//
// A raw image's RAM is mapped from the file, so the guest reads run bytes
// that no checksum was compared against at resume. Image::map_ram therefore
// reads every run once and compares it, unless a record says this very file
// was checked before. The record is keyed by what any change to the file's
// contents changes: write(2), truncate, mmap write-back, or replacing it by
// rename all set a new ctime (or a new inode), and user space cannot set
// ctime (utimensat sets only atime and mtime). So a record proves the file
// is byte for byte what was checked, at the cost of one stat.
//
// What a record cannot catch: storage that changes bytes under the file
// system (bit rot). `amber verify` ignores records and reads everything.
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace amber::image {

// What identifies a file's contents without reading them.
struct FileIdentity {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t ctime_sec = 0, ctime_nsec = 0;
  uint64_t metadata_xxh3 = 0;  // the image's own metadata checksum, as a second key

  static FileIdentity of(const struct stat& st, uint64_t metadata_xxh3);
  bool operator==(const FileIdentity&) const = default;
};

// A directory of records, one small file per (device, inode). Every
// operation is best effort: an unwritable or missing directory only means
// images are checked again, never an error.
class CheckedImages {
 public:
  // "" disables records: every resume checks every run. add() records a
  // file only once its ctime is `settle` in the past: a change within the
  // same clock tick as the check could keep the ctime the check saw (file
  // systems stamp with a coarse clock, 1-10 ms), so the default is a
  // generous second. Tests pass a negative settle to record at once.
  explicit CheckedImages(std::string dir = {}, std::chrono::nanoseconds settle = std::chrono::seconds(1))
      : dir_(std::move(dir)), settle_(settle) {}

  // $XDG_CACHE_HOME/amber/checked, else $HOME/.cache/amber/checked, else
  // disabled (a jail without a home checks every time).
  static CheckedImages for_this_user();

  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  // A remembered identity (below) or a record on disk.
  bool contains(const FileIdentity& id) const noexcept;
  // Creates the directory (0700) if needed; replaces the record atomically.
  void add(const FileIdentity& id) const noexcept;
  // Whether a file of this identity changed long enough ago (`settle`) for
  // a check made now to stand for it.
  bool settled(const FileIdentity& id) const noexcept;
  // In memory only, for this object and its copies: an identity someone
  // else checked, e.g. a warm pool's jailed worker, which has no records
  // directory, told by the pool that checked its --like image
  // (cli/pool.h). The caller vouches for it; nothing is settled here.
  void remember(const FileIdentity& id) { remembered_.push_back(id); }
  // The file name of a record of this identity: one per (device, inode).
  static std::string record_name(const FileIdentity& id);

 private:
  std::string dir_;
  std::chrono::nanoseconds settle_;
  std::vector<FileIdentity> remembered_;
};

}  // namespace amber::image
