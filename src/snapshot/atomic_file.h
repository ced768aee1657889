#pragma once
// Replace-on-commit file: data goes to ".NAME.tmp-XXXXXX" in the target's
// directory (same filesystem, so rename() is atomic); commit() fsyncs it,
// renames it over the target and fsyncs the directory. Destroying an
// uncommitted AtomicFile unlinks the temporary, so a failed save never
// touches an existing image of the same name.
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
  std::string path_, tmp_;
  UniqueFd fd_;
  bool committed_ = false;
};

}  // namespace amber::image
