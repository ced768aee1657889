// Issue 4: virtio-blk disks: read-write, read-only, copy-on-write overlays,
// and a stress round that must read back what it wrote.
#include "harness.h"

namespace lt {
namespace {

class DiskTest : public LinuxTest {};

const char* const kHello = "AMBER-RESULT read=hello-from-amber-disk\n";

// One boot: vda = a writable copy (token + 8 MiB stress on ext4), vdb = a
// read-only copy the guest tries to overwrite.
TEST_F(DiskTest, ReadWriteReadOnlyAndStress) {
  std::string rw = copy_guest("disk.img", "rw.img");
  std::string ro = copy_guest("disk.img", "ro.img");
  const std::string token = "tok-rw-4711";
  ASSERT_FALSE(file_contains(rw, token));
  uint64_t ro_before = file_digest(ro);

  auto p = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("disk.cpio.gz"), "--disk", rw,
                  "--disk", ro + ",ro", "--cmdline", std::string(kQuiet) + " amber.token=" + token + " amber.stress=8"});
  ASSERT_TRUE(p->expect("AMBER-READY\n"));
  ASSERT_TRUE(p->expect("AMBER-RESULT mount=ok\n"));
  ASSERT_TRUE(p->expect(kHello));
  ASSERT_TRUE(p->expect("AMBER-RESULT written=" + token + "\n"));
  ASSERT_TRUE(p->expect("AMBER-RESULT ro_write=fail\n"));
  ASSERT_TRUE(p->expect("AMBER-RESULT ro_changed=no\n"));
  ASSERT_TRUE(p->expect("AMBER-RESULT stress=ok\n", 180s));
  ASSERT_TRUE(p->expect("AMBER-DONE\n"));
  ASSERT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();

  EXPECT_TRUE(file_contains(rw, token + "\n")) << "the guest's write did not reach " << rw;
  EXPECT_EQ(file_digest(ro), ro_before) << "the read-only disk file changed";
}

// vda = base,cow=OVERLAY (named, persists), vdb = base2,cow (anonymous): the
// guest's writes succeed, both bases stay byte-identical, and a second boot
// over the same named overlay sees the first boot's write.
TEST_F(DiskTest, CowOverlaysKeepBasesAndPersistNamedOverlay) {
  std::string base = copy_guest("disk.img", "base.img");
  std::string base2 = copy_guest("disk.img", "base2.img");
  std::string overlay = *tmp_ / "vda.overlay";
  const std::string token = "tok-cow-0815";
  uint64_t d1 = file_digest(base), d2 = file_digest(base2);

  {
    auto p = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("disk.cpio.gz"), "--disk",
                    base + ",cow=" + overlay, "--disk", base2 + ",cow", "--cmdline",
                    std::string(kQuiet) + " amber.token=" + token});
    ASSERT_TRUE(p->expect("AMBER-RESULT mount=ok\n"));
    ASSERT_TRUE(p->expect(kHello));
    ASSERT_TRUE(p->expect("AMBER-RESULT written=" + token + "\n"));
    // A cow disk is writable for the guest: the probe write lands in the overlay.
    ASSERT_TRUE(p->expect("AMBER-RESULT ro_write=ok\n"));
    ASSERT_TRUE(p->expect("AMBER-RESULT ro_changed=yes\n"));
    ASSERT_TRUE(p->expect("AMBER-DONE\n"));
    ASSERT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
  }
  EXPECT_EQ(file_digest(base), d1) << "cow base changed";
  EXPECT_EQ(file_digest(base2), d2) << "anonymous cow base changed";
  EXPECT_FALSE(file_contains(base, token));
  ASSERT_TRUE(exists(overlay)) << "the named overlay was not kept";
  EXPECT_TRUE(file_contains(overlay, token + "\n")) << "the token is not in the overlay";

  // Second boot: the snap scenario mounts vda and gives a shell.
  {
    auto p = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("snap.cpio.gz"), "--disk",
                    base + ",cow=" + overlay, "--cmdline", kQuiet});
    ASSERT_TRUE(p->expect("AMBER-RESULT disk=mounted\n"));
    ASSERT_TRUE(p->expect("AMBER-SNAP-HERE\n"));
    ASSERT_TRUE(wait_prompt(*p));
    auto out = shell(*p, "cat /mnt/written.txt");
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, token) << p->transcript();
    ASSERT_TRUE(p->send("exit\n"));
    ASSERT_TRUE(p->expect("AMBER-DONE\n"));
    ASSERT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
  }
  EXPECT_EQ(file_digest(base), d1) << "cow base changed by the second boot";
}

}  // namespace
}  // namespace lt
