#include "vmm/image_lease.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace amber::vmm {
namespace {

// A writer opening the leased file is held back and the lease holder gets
// the signal; once the holder lets go, the writer goes on.
TEST(ImageLease, AWriterIsHeldAndTheHolderIsSignalled) {
  char path[] = "/tmp/amber-lease-XXXXXX";
  int wfd = ::mkstemp(path);
  ASSERT_GE(wfd, 0);
  ASSERT_EQ(::write(wfd, "image", 5), 5);
  ::close(wfd);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);

  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, image_lease_signal());
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &set, &old), 0);
  int sfd = ::signalfd(-1, &set, SFD_CLOEXEC);
  ASSERT_GE(sfd, 0);
  std::string why = take_image_lease(fd);
  if (!why.empty()) GTEST_SKIP() << "no lease here: " << why;  // e.g. a file system without leases

  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fd);  // the child's copy would hold the lease's file open too
    int w = ::open(path, O_WRONLY);  // blocks until the lease is released
    ::_exit(w >= 0 && ::write(w, "X", 1) == 1 ? 0 : 1);
  }
  pollfd p{sfd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 10000), 1) << "no lease-break signal within 10 s";
  signalfd_siginfo si{};
  ASSERT_EQ(::read(sfd, &si, sizeof si), static_cast<ssize_t>(sizeof si));
  EXPECT_EQ(static_cast<int>(si.ssi_signo), image_lease_signal());
  EXPECT_EQ(static_cast<int>(si.ssi_fd), fd);
  // The writer is still waiting: the file is unchanged.
  char b = 0;
  ASSERT_EQ(::pread(fd, &b, 1, 0), 1);
  EXPECT_EQ(b, 'i');
  ::close(fd);  // let go, as amber does by exiting
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ::close(sfd);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::unlink(path);
}

}  // namespace
}  // namespace amber::vmm
