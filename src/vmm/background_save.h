#pragma once
// Writing an image from a forked child (issue 12, docs/performance.md
// "Background save"): fork() gives the child a copy-on-write view of guest
// RAM frozen at the pause, so the parent lets the guest run again right
// after fork() returns while the child writes. The image is as consistent
// as a stop-the-world save (RAM exactly as at the pause) and as atomic
// (the child writes through AtomicFile: a failed or killed child leaves
// the previous image untouched).
#include <sys/types.h>

#include <string>

#include "amber/unique_fd.h"
#include "snapshot/image.h"

namespace amber::vmm {

class BackgroundSave {
 public:
  // Forks; the child writes `in` to `path` and exits. Call with the VM
  // paused: `in` must describe memory that does not change until fork()
  // returns. Throws SysError when fork or pipe fail (nothing was written).
  static BackgroundSave start(const std::string& path, const image::SaveInput& in, const image::SaveOptions& opt);
  BackgroundSave(BackgroundSave&&) noexcept;
  ~BackgroundSave();

  // Waits for the child: its statistics, or an Error with its message (or
  // the signal that killed it).
  image::SaveStats wait();

 private:
  BackgroundSave(pid_t pid, UniqueFd result) : pid_(pid), result_(std::move(result)) {}
  pid_t pid_ = -1;
  UniqueFd result_;  // the child's answer: 'O' + SaveStats, or 'E' + message
};

}  // namespace amber::vmm
