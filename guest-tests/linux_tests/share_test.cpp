// Issue 13: virtio-9p shares (docs/shares.md). A Linux guest mounts a
// read-write and a read-only host directory with the in-kernel v9fs client
// and works through them; escapes by ".." and symlinks must fail.
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

namespace lt {
namespace {

class ShareTest : public LinuxTest {};

// Shell commands stay under one 80-column line: the echo is matched verbatim.
const char* const kMountRw = "mount -t 9p -o trans=virtio,version=9p2000.L hostrw /s && echo m-ok";
const char* const kMountRo = "mount -t 9p -o trans=virtio,version=9p2000.L hostro /r && echo m-ok";

TEST_F(ShareTest, GuestReadsWritesAndCannotEscape) {
  // tmp/secret.txt sits next to the shares: outside both of them.
  std::string rw = *tmp_ / "rw", ro = *tmp_ / "ro", secret = *tmp_ / "secret.txt";
  ASSERT_EQ(::mkdir(rw.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(ro.c_str(), 0755), 0);
  write_file(secret, "host-secret-31337\n");
  write_file(rw + "/in.txt", "hello-from-host-9p\n");
  write_file(ro + "/ro.txt", "read-only-content\n");
  // 1 MiB + 7 of varied bytes: large reads and writes take Linux's
  // zero-copy path (data in separate descriptors), and the odd size leaves
  // a partial last request.
  std::string big(1024 * 1024 + 7, '\0');
  uint32_t x = 12345;
  for (auto& ch : big) ch = char((x = x * 1103515245 + 12345) >> 16);
  write_file(rw + "/big", big);
  ASSERT_EQ(::symlink("../secret.txt", (rw + "/rel-out").c_str()), 0);
  ASSERT_EQ(::symlink(secret.c_str(), (rw + "/abs-out").c_str()), 0);

  auto p = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("shell.cpio.gz"), "--share",
                  rw + ",tag=hostrw", "--share", ro + ",tag=hostro,ro", "--cmdline", kQuiet});
  ASSERT_TRUE(p->expect("AMBER-READY\n"));
  ASSERT_TRUE(wait_prompt(*p));
  auto run = [&](const std::string& cmd) {
    auto out = shell(*p, cmd);
    return out ? *out : std::string("<no answer>");
  };
  ASSERT_EQ(run("mkdir -p /s /r && echo ok"), "ok");
  ASSERT_EQ(run(kMountRw), "m-ok") << p->transcript();
  ASSERT_EQ(run(kMountRo), "m-ok") << p->transcript();

  // Read a host file; write one and see it on the host.
  EXPECT_EQ(run("cat /s/in.txt"), "hello-from-host-9p");
  EXPECT_EQ(run("echo guest-wrote-this > /s/out.txt && echo w-ok"), "w-ok");
  EXPECT_EQ(read_file(rw + "/out.txt"), "guest-wrote-this\n");
  EXPECT_EQ(run("cp /s/big /s/big2 && echo cp-ok"), "cp-ok");
  EXPECT_EQ(run("dd if=/s/big of=/s/big3 bs=256k 2>/dev/null && echo dd-ok"), "dd-ok");
  EXPECT_TRUE(read_file(rw + "/big2") == big) << "cp through the share changed the bytes";
  EXPECT_TRUE(read_file(rw + "/big3") == big) << "dd through the share changed the bytes";
  // A program on the share runs (exec maps it from v9fs: what `amber exec`
  // relies on for a 9p root).
  EXPECT_EQ(run("cp /bin/busybox /s/busybox && /s/busybox echo exec-ok"), "exec-ok");
  EXPECT_EQ(run("rm /s/busybox && echo rm-ok"), "rm-ok");
  // Directory ops: mkdir, rename into it, list, remove.
  EXPECT_EQ(run("mkdir /s/d && mv /s/out.txt /s/d/m && ls /s/d"), "m");
  EXPECT_EQ(read_file(rw + "/d/m"), "guest-wrote-this\n");
  EXPECT_EQ(run("rm /s/d/m && rmdir /s/d && echo rm-ok"), "rm-ok");
  EXPECT_FALSE(exists(rw + "/d"));

  // The read-only share reads, and every write fails without touching it.
  EXPECT_EQ(run("cat /r/ro.txt"), "read-only-content");
  EXPECT_EQ(run("(echo x > /r/new.txt) 2>/dev/null || echo ro-refused"), "ro-refused");
  EXPECT_EQ(run("rm /r/ro.txt 2>/dev/null || echo ro-refused"), "ro-refused");
  EXPECT_FALSE(exists(ro + "/new.txt"));
  EXPECT_TRUE(exists(ro + "/ro.txt"));

  // ".." of the mount is the guest's own /, not the host's parent directory.
  std::string up = run("ls /s/.. | grep -c secret");
  EXPECT_EQ(up, "0") << p->transcript();
  // Symlinks are links to the guest: their text resolves in the guest, so
  // neither the relative nor the absolute link reaches the host's file.
  EXPECT_EQ(run("readlink /s/rel-out"), "../secret.txt");
  EXPECT_EQ(run("cat /s/rel-out 2>&1 | grep -c 31337"), "0");
  EXPECT_EQ(run("cat /s/abs-out 2>&1 | grep -c 31337"), "0");

  ASSERT_TRUE(p->send("exit\n"));
  ASSERT_TRUE(p->expect("AMBER-DONE\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
  EXPECT_EQ(read_file(secret), "host-secret-31337\n");
}

// docs/shares.md: a VM with a share is never saved; the refusal comes before
// the pause and leaves an earlier image file as it was.
TEST_F(ShareTest, SavingAVmWithAShareIsRefused) {
  std::string img = *tmp_ / "vm.amber";
  write_file(img, "an earlier image");
  auto r = amber_run({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("ready.cpio.gz"), "--share",
                      tmp_->path(), "--save-on-serial", "AMBER-READY", "--save", img, "--cmdline", kQuiet});
  EXPECT_EQ(r.status, ExitStatus::exited(1)) << r.out << r.err;
  EXPECT_NE(r.err.find("save refused"), std::string::npos) << r.err;
  EXPECT_EQ(read_file(img), "an earlier image");
  expect_no_crash(r.out, r.err, r.status);
}

TEST_F(ShareTest, BadShareIsAUsageErrorBeforeBoot) {
  auto r = amber_run({"run", "--kernel", guest_file("bzImage"), "--share", *tmp_ / "missing"});
  EXPECT_EQ(r.status, ExitStatus::exited(1)) << r.out << r.err;
  EXPECT_NE(r.err.find("missing"), std::string::npos) << r.err;
  r = amber_run({"run", "--kernel", guest_file("bzImage"), "--share", tmp_->path() + ",bogus"});
  EXPECT_EQ(r.status, ExitStatus::exited(2)) << r.out << r.err;
}

}  // namespace
}  // namespace lt
