// Issue 17 items 3 and 4: a jailed amber (`--jail DIR`, src/sandbox/jail.h)
// serving a 9p share cannot reach a host file outside DIR: the share is a
// path inside the jail, a host path given for it is not found, and links
// out of the share (absolute, or by "..") do not lead the guest to the
// file. The jail needs root: the linux suite runs as root in the sandbox
// and CI, and fails (never passes) here otherwise.
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

namespace lt {
namespace {

class JailTest : public LinuxTest {};

TEST_F(JailTest, AShareInsideTheJailCannotReachHostFilesOutsideIt) {
  constexpr uid_t kNobody = 65534;
  if (::geteuid() != 0)
    FAIL() << "!!! --jail needs root; the linux suite runs as root in the sandbox and CI (this is uid "
           << ::geteuid() << ")";
  // tmp/secret.txt beside the jail; tmp/jail holds the kernel, the initrd
  // and the share.
  std::string jail = *tmp_ / "jail", share = jail + "/share", secret = *tmp_ / "secret.txt";
  ASSERT_EQ(::mkdir(jail.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(share.c_str(), 0755), 0);
  copy_file(guest_file("bzImage"), jail + "/bzImage");
  copy_file(guest_file("shell.cpio.gz"), jail + "/shell.cpio.gz");
  write_file(secret, "host-secret-31337\n");
  ::chmod(secret.c_str(), 0644);  // readable by the jail user: only the jail keeps it out of reach
  write_file(share + "/in.txt", "inside-the-jail-share\n");
  ASSERT_EQ(::symlink(secret.c_str(), (share + "/abs-out").c_str()), 0);
  ASSERT_EQ(::symlink("../../secret.txt", (share + "/rel-out").c_str()), 0);  // share/../.. is tmp on the host
  for (auto& f : {jail, share}) ASSERT_EQ(::chown(f.c_str(), kNobody, kNobody), 0) << f;

  // The host's path of a directory outside the jail is not found inside it.
  auto r = amber_run({"run", "--kernel", "/bzImage", "--share", tmp_->path() + ",tag=host", "--jail", jail});
  EXPECT_EQ(r.status, ExitStatus::exited(1)) << r.out << r.err;
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;

  auto p = amber({"run", "--kernel", "/bzImage", "--initrd", "/shell.cpio.gz", "--share", "/share,tag=jailed",
                  "--jail", jail, "--cmdline", kQuiet});
  ASSERT_TRUE(p->expect("AMBER-READY\n"));
  ASSERT_TRUE(wait_prompt(*p));
  auto run = [&](const std::string& cmd) {
    auto out = shell(*p, cmd);
    return out ? *out : std::string("<no answer>");
  };
  ASSERT_EQ(run("mkdir -p /s && echo ok"), "ok");
  ASSERT_EQ(run("mount -t 9p -o trans=virtio,version=9p2000.L jailed /s && echo m-ok"), "m-ok") << p->transcript();
  EXPECT_EQ(run("cat /s/in.txt"), "inside-the-jail-share");
  EXPECT_EQ(run("echo guest-wrote-this > /s/out.txt && echo w-ok"), "w-ok");
  EXPECT_EQ(read_file(share + "/out.txt"), "guest-wrote-this\n");
  EXPECT_EQ(run("readlink /s/abs-out"), secret);
  EXPECT_EQ(run("cat /s/abs-out 2>&1 | grep -c 31337"), "0");
  EXPECT_EQ(run("cat /s/rel-out 2>&1 | grep -c 31337"), "0");
  EXPECT_EQ(run("cat /s/../../secret.txt 2>&1 | grep -c 31337"), "0");
  ASSERT_TRUE(p->send("exit\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
  EXPECT_EQ(read_file(secret), "host-secret-31337\n");
  struct stat st {};
  ASSERT_EQ(::stat((share + "/out.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, kNobody) << "the 9p server wrote as the jail user";
}

}  // namespace
}  // namespace lt
