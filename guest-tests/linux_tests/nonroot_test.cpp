// Issue 17 item 2: a Linux guest as a user other than root, with amber's
// seccomp filters on (the default): boot with a disk, save, resume.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "harness.h"

namespace lt {
namespace {

class NonRootTest : public LinuxTest {};

// Runs argv as uid and gid `id` (no supplementary groups) in `cwd`, stdin
// /dev/null, stdout and stderr into `log`; the exit status, or -1.
int run_as(uid_t id, const std::vector<std::string>& argv, const std::string& cwd, const std::string& log,
           Seconds timeout = 180s) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDONLY);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (null < 0 || out < 0 || ::chdir(cwd.c_str()) != 0) _exit(120);
    ::dup2(null, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    if (::setgroups(0, nullptr) != 0 || ::setgid(id) != 0 || ::setuid(id) != 0) _exit(121);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(122);
  }
  int st = 0;
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid, &st, WNOHANG) == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &st, 0);
  return -1;
}

TEST_F(NonRootTest, LinuxGuestWithADiskBootsSavesAndResumesAsNobody) {
  constexpr uid_t kNobody = 65534;
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to arrange a run as another user (chmod /dev/kvm, setuid)";
  struct stat kvm {};
  ASSERT_EQ(::stat("/dev/kvm", &kvm), 0);
  ASSERT_EQ(::chmod("/dev/kvm", 0666), 0);  // what the kvm group grants, for this test
  struct Restore {
    mode_t mode;
    ~Restore() { ::chmod("/dev/kvm", mode & 07777); }
  } restore{kvm.st_mode};
  std::string kernel = copy_guest("bzImage"), initrd = copy_guest("ready.cpio.gz"), disk = copy_guest("disk.img");
  std::string image = *tmp_ / "vm.amber", log = *tmp_ / "log";
  for (auto& f : {tmp_->path(), kernel, initrd, disk}) ASSERT_EQ(::chown(f.c_str(), kNobody, kNobody), 0) << f;
  int rc = run_as(kNobody, {amber_bin(), "run", "--kernel", kernel, "--initrd", initrd, "--disk", disk, "--cmdline",
                            kQuiet, "--save-on-serial", "AMBER-READY", "--save", image},
                  tmp_->path(), log);
  std::string out = read_file(log);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("AMBER-READY"), std::string::npos) << out;
  ASSERT_TRUE(exists(image)) << out;
  struct stat st {};
  ASSERT_EQ(::stat(image.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody);
  rc = run_as(kNobody, {amber_bin(), "resume", image}, tmp_->path(), log);
  out = read_file(log);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("AMBER-DONE"), std::string::npos) << out;
  EXPECT_EQ(out.find("amber: error"), std::string::npos) << out;
  EXPECT_EQ(out.find("seccomp"), std::string::npos) << out;
}

}  // namespace
}  // namespace lt
