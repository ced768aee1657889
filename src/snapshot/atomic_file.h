#pragma once
// Replace-on-commit file. Data goes to an unnamed O_TMPFILE in the target's
// directory (same filesystem), so a process killed mid-write leaves nothing
// behind. commit() fsyncs it, makes it read-only (0444: an image is not
// edited in place), links it as ".NAME.tmp-XXXXXX", renames that over the
// target (atomic) and fsyncs the directory. Only a kill between the link
// and the rename leaves a named temporary. Where the filesystem has no
// O_TMPFILE, the temporary is named from the start (mkostemp) and a kill
// mid-write leaves it. Destroying an uncommitted AtomicFile drops the
// temporary, so a failed save never touches an existing image.
#include <cstdint>
#include <span>
#include <string>

#include "amber/unique_fd.h"

namespace amber::image {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }
  // pwrite() all of `data` at `offset`, or throw SysError naming the target.
  void write_at(uint64_t offset, std::span<const uint8_t> data) const;
  void commit(bool sync);

 private:
  std::string path_, tmp_;  // tmp_: the temporary's name once it has one
  UniqueFd fd_;
  bool committed_ = false;
};

}  // namespace amber::image
