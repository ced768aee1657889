#include "vmm/background_save.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <type_traits>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber::vmm {
namespace {

static_assert(std::is_trivially_copyable_v<image::SaveStats>);

void write_all(int fd, const void* p, size_t n) {
  auto* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // the parent went away: nothing to tell
    c += w;
    n -= size_t(w);
  }
}

// The child: only the forking thread exists here. write_image starts its
// own worker threads; no lock another parent thread might have held is
// touched (no logging, no progress display on the shared stderr).
[[noreturn]] void child_main(int out, const std::string& path, const image::SaveInput& in,
                             image::SaveOptions opt) {
  opt.progress = {};
  try {
    image::SaveStats st = image::write_image(path, in, opt);
    char tag = 'O';
    write_all(out, &tag, 1);
    write_all(out, &st, sizeof st);
    ::_exit(0);
  } catch (const std::exception& e) {
    std::string msg = std::string("E") + e.what();
    write_all(out, msg.data(), msg.size());
  } catch (...) {
    write_all(out, "Eunknown error", 14);
  }
  ::_exit(1);
}

}  // namespace

BackgroundSave BackgroundSave::start(const std::string& path, const image::SaveInput& in,
                                     const image::SaveOptions& opt) {
  int p[2];
  check_sys(::pipe2(p, O_CLOEXEC), "pipe2");
  UniqueFd rd(p[0]), wr(p[1]);
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw SysError("fork (background save)", errno);
  if (pid == 0) {
    // Ends with the parent rather than writing on alone: the image would
    // still be complete or absent, but nobody would wait for it. A parent
    // killed before the prctl took effect sends nothing: check (prctl(2)).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    child_main(wr.get(), path, in, opt);
  }
  return BackgroundSave(pid, std::move(rd));
}

BackgroundSave::BackgroundSave(BackgroundSave&& o) noexcept : pid_(o.pid_), result_(std::move(o.result_)) {
  o.pid_ = -1;
}

BackgroundSave::~BackgroundSave() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);  // not waited for by the caller: an error path
    ::waitpid(pid_, nullptr, 0);
  }
}

image::SaveStats BackgroundSave::wait() {
  std::string answer;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(result_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer.append(buf, size_t(n));
  }
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  if (WIFSIGNALED(status))
    throw Error(fmt::format("the save process was killed by signal {}; the image was not written", WTERMSIG(status)));
  if (!answer.empty() && answer[0] == 'O' && answer.size() == 1 + sizeof(image::SaveStats) && WIFEXITED(status) &&
      WEXITSTATUS(status) == 0) {
    image::SaveStats st;
    std::memcpy(&st, answer.data() + 1, sizeof st);
    return st;
  }
  if (!answer.empty() && answer[0] == 'E') throw Error(answer.substr(1));
  throw Error(fmt::format("the save process ended with status {} and no answer", WEXITSTATUS(status)));
}

}  // namespace amber::vmm
