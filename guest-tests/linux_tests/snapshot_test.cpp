// Issue 5: snapshots. `amber run --save-on-serial ... --save IMG` and
// `amber resume IMG`: RAM, disks, devices and vCPUs survive; the image is
// self-contained (kernel, initrd and disk files may be gone), never modified by
// a resume, verifiable, and can be resumed several times at once.
#include <elf.h>
#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iostream>
#include <algorithm>
#include <iterator>
#include <optional>
#include <regex>
#include <thread>

#include <fmt/core.h>

#include "harness.h"

namespace lt {
namespace {

class SnapshotTest : public LinuxTest {};

// Boots the snap scenario from COPIES of the kernel, initrd and disk in `dir`
// (amber.token=token), saves at AMBER-SNAP-HERE into `image`, then deletes
// the copies so that a resume can only use what the image holds.
bool boot_and_save(const TempDir& dir, const std::string& image, const std::string& token,
                   std::vector<std::string> extra = {}) {
  std::string kernel = dir / "k-bzImage", initrd = dir / "k-snap.cpio.gz", disk = dir / "k-disk.img";
  copy_file(guest_file("bzImage"), kernel);
  copy_file(guest_file("snap.cpio.gz"), initrd);
  copy_file(guest_file("disk.img"), disk);
  std::vector<std::string> args = {amber_bin(), "run", "--kernel", kernel, "--initrd", initrd, "--disk", disk,
                                   "--cmdline", std::string(kQuiet) + " amber.token=" + token,
                                   "--save-on-serial", "AMBER-SNAP-HERE", "--save", image};
  args.insert(args.end(), extra.begin(), extra.end());
  Process p(args, {dir.path(), {}});
  p.close_stdin();
  bool ok = p.expect("AMBER-RESULT disk=mounted\n") && p.expect("AMBER-RESULT token=" + token + "\n") &&
            p.expect("AMBER-SNAP-HERE");
  auto st = p.wait(120s);
  if (ok && st != ExitStatus::exited(0)) {
    ADD_FAILURE() << "saving run: " << st << "\n" << p.transcript();
    ok = false;
  }
  if (ok && !exists(image)) {
    ADD_FAILURE() << "no image " << image << " after the saving run\n" << p.transcript();
    ok = false;
  }
  for (auto& f : {kernel, initrd, disk}) ::unlink(f.c_str());
  return ok;
}

// One snapshot shared by the tests that only read it (resume never modifies
// an image): made on first use, removed at exit.
struct Shared {
  std::unique_ptr<TempDir> dir;
  std::string image;
  uint64_t allocated = 0;  // right after the save (resumes may grow it on tmpfs)
  bool ok = false;
  static constexpr const char* kToken = "tok123-shared";
};

const Shared& shared() {
  static Shared s = [] {
    Shared s;
    s.dir = std::make_unique<TempDir>();
    s.image = *s.dir / "vm.amber";
    s.ok = boot_and_save(*s.dir, s.image, Shared::kToken);
    if (s.ok) s.allocated = allocated_bytes(s.image);
    return s;
  }();
  return s;
}

#define REQUIRE_SHARED()                                                                          \
  do {                                                                                            \
    if (!shared().ok) FAIL() << "the shared snapshot could not be made (see the first failure)"; \
  } while (0)

// (a) RAM (tmpfs) and disk contents survive; the guest's disk stays writable;
// `exit` in the resumed guest ends amber with 0.
TEST_F(SnapshotTest, ResumeKeepsRamAndDiskWithoutOriginalFiles) {
  REQUIRE_SHARED();
  auto p = amber({"resume", shared().image});
  ASSERT_TRUE(wait_prompt(*p));
  auto out = shell(*p, "cat /tmp/token");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, Shared::kToken) << p->transcript();
  out = shell(*p, "cat /mnt/token");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, Shared::kToken) << p->transcript();
  out = shell(*p, "echo new-$((1+1)) > /mnt/n && sync && cat /mnt/n");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "new-2") << p->transcript();
  ASSERT_TRUE(p->send("exit\n"));
  ASSERT_TRUE(p->expect("AMBER-DONE\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
  EXPECT_EQ(p->out().find("AMBER-READY"), std::string::npos) << "the guest booted again\n" << p->transcript();
}

// (b) A running guest saved mid-count continues the count: the first tick
// after the resume follows the saved one, and the guest does not reboot.
TEST_F(SnapshotTest, TicksContinueAfterResume) {
  std::string image = *tmp_ / "ticks.amber";
  {
    auto p = amber({"run", "--kernel", guest_file("bzImage"), "--initrd", guest_file("ticks.cpio.gz"), "--cmdline",
                    std::string(kQuiet) + " amber.token=tick-tok", "--save-on-serial", "AMBER-TICK 5", "--save",
                    image});
    p->close_stdin();
    ASSERT_TRUE(p->expect("AMBER-READY\n"));
    ASSERT_TRUE(p->expect("AMBER-TICK 5"));
    ASSERT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
    EXPECT_EQ(p->out().find("AMBER-TICK 7"), std::string::npos) << "did not stop at the save\n" << p->transcript();
  }
  auto p = amber({"resume", image});
  std::vector<std::string> g;
  ASSERT_TRUE(p->expect_regex("AMBER-TICK ([0-9]+)\n", &g));
  int first = std::stoi(g[1]);
  std::cout << "  first tick after the resume: " << first << "\n";
  EXPECT_GT(first, 5) << p->transcript();
  EXPECT_LE(first, 8) << p->transcript();
  ASSERT_TRUE(p->expect("AMBER-TICK " + std::to_string(first + 1) + "\n"));
  ASSERT_TRUE(p->expect("AMBER-TICK " + std::to_string(first + 2) + "\n"));
  EXPECT_EQ(p->out().find("AMBER-READY"), std::string::npos) << "the guest booted again\n" << p->transcript();
  ASSERT_TRUE(p->signal(SIGTERM));
  auto st = p->wait(30s);
  EXPECT_EQ(st, ExitStatus::exited(130)) << p->transcript();
  expect_no_crash(p->out(), p->err(), st);
}

// (c) Two resumes of one image at the same time are independent VMs, and the
// image is byte-for-byte unchanged afterwards.
TEST_F(SnapshotTest, ConcurrentResumesAreIndependentAndLeaveImageIntact) {
  REQUIRE_SHARED();
  const std::string& image = shared().image;
  uint64_t before = file_digest(image), alloc_before = allocated_bytes(image);
  auto a = amber({"resume", image});
  auto b = amber({"resume", image});
  ASSERT_TRUE(wait_prompt(*a));
  ASSERT_TRUE(wait_prompt(*b));

  auto out = shell(*a, "echo a-$((2*3)) > /mnt/fa && sync && cat /mnt/fa");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "a-6") << a->transcript();
  out = shell(*b, "echo b-$((2*4)) > /mnt/fb && sync && cat /mnt/fb");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "b-8") << b->transcript();
  out = shell(*b, "ls /mnt");
  ASSERT_TRUE(out);
  EXPECT_TRUE(has_word(*out, "fb")) << *out;
  EXPECT_FALSE(has_word(*out, "fa")) << "B sees A's file: " << *out;
  EXPECT_TRUE(has_word(*out, "token")) << *out;
  out = shell(*a, "ls /mnt");
  ASSERT_TRUE(out);
  EXPECT_TRUE(has_word(*out, "fa")) << *out;
  EXPECT_FALSE(has_word(*out, "fb")) << "A sees B's file: " << *out;
  // RAM: a file A puts in /tmp is not in B's.
  out = shell(*a, "echo ram-a > /tmp/ra; cat /tmp/token");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, Shared::kToken);
  out = shell(*b, "ls /tmp");
  ASSERT_TRUE(out);
  EXPECT_FALSE(has_word(*out, "ra")) << "B sees A's tmpfs file: " << *out;
  EXPECT_TRUE(has_word(*out, "token")) << *out;

  ASSERT_TRUE(a->send("exit\n"));
  ASSERT_TRUE(b->send("exit\n"));
  EXPECT_EQ(a->wait(), ExitStatus::exited(0)) << a->transcript();
  EXPECT_EQ(b->wait(), ExitStatus::exited(0)) << b->transcript();
  EXPECT_EQ(file_digest(image), before) << "resuming modified the image";
  std::cout << "image allocated bytes before/after the resumes: " << alloc_before << " / "
            << allocated_bytes(image) << "\n";
  auto v = amber_run({"verify", image});
  EXPECT_EQ(v.status, ExitStatus::exited(0)) << v.transcript();
}

// (d) An SMP guest saves and resumes with both vCPUs.
TEST_F(SnapshotTest, TwoCpuGuestSavesAndResumes) {
  std::string image = *tmp_ / "smp.amber";
  ASSERT_TRUE(boot_and_save(*tmp_, image, "tok-smp", {"--cpus", "2"}));
  auto p = amber({"resume", image});
  ASSERT_TRUE(wait_prompt(*p));
  auto out = shell(*p, "nproc");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "2") << p->transcript();
  out = shell(*p, "cat /sys/devices/system/cpu/online");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "0-1") << p->transcript();
  // Work on both CPUs: two busy loops in the background, then a command.
  out = shell(*p, "for i in 1 2; do md5sum /bin/busybox & done; wait");
  ASSERT_TRUE(out);
  out = shell(*p, "echo c-$((5*5)) $(cat /tmp/token)");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, "c-25 tok-smp") << p->transcript();
  ASSERT_TRUE(p->send("exit\n"));
  ASSERT_TRUE(p->expect("AMBER-DONE\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
}

struct Layout {
  uint64_t ram_byte = 0, metadata_byte = 0, disk_byte = 0, size = 0;
  uint64_t disk_extent_offset = 0, disk_extent_length = 0;  // the extent holding disk_byte, on the disk
  bool ok = false;
};

// Offsets of one byte inside a RAM run, the metadata and a disk extent, from
// `amber inspect --json`.
Layout layout_of(const std::string& json) {
  Layout l;
  std::smatch m;
  auto num = [&](int i) { return std::stoull(m[i].str()); };
  if (!std::regex_search(json, m, std::regex(R"re("file_size":([0-9]+))re"))) return l;
  l.size = num(1);
  if (!std::regex_search(json, m, std::regex(R"re("metadata":\{"offset":([0-9]+),"size":([0-9]+))re"))) return l;
  l.metadata_byte = num(1) + num(2) / 2;
  if (!std::regex_search(json, m,
                         std::regex(R"re("codec":"raw","file_offset":([0-9]+),"stored_size":[0-9]+,"runs":\[\{"offset":([0-9]+),"length":([0-9]+))re")))
    return l;
  l.ram_byte = num(1) + num(2) + num(3) / 2;
  // A disk extent lies at the disk's file offset + its stored offset (image
  // format 1.1 packs them; docs/image-format.md).
  if (!std::regex_search(json, m,
                         std::regex(R"re("file_offset":([0-9]+),"stored_size":[0-9]+,"extents":\[\{"offset":([0-9]+),"length":([0-9]+),"stored_offset":([0-9]+))re")))
    return l;
  l.disk_byte = num(1) + num(4) + num(3) / 2;
  l.disk_extent_offset = num(2);
  l.disk_extent_length = num(3);
  l.ok = true;
  return l;
}

// (e) verify: ok on a good image; a flipped byte in RAM, the metadata or an
// embedded disk extent is found and named; truncated images are refused by
// verify and resume with a clear error.
TEST_F(SnapshotTest, VerifyFindsCorruptionAndTruncation) {
  REQUIRE_SHARED();
  const std::string& image = shared().image;
  auto v = amber_run({"verify", image});
  ASSERT_EQ(v.status, ExitStatus::exited(0)) << v.transcript();
  EXPECT_NE(v.out.find("ok"), std::string::npos) << v.transcript();

  auto text = amber_run({"inspect", image});
  ASSERT_EQ(text.status, ExitStatus::exited(0)) << text.transcript();
  EXPECT_NE(text.out.find("machine: 1 vCPU, 256 MiB RAM; devices: cmos i8042 uart0 virtio-blk@0 virtio-rng; disks: vda"),
            std::string::npos)
      << text.out.substr(0, 2000);

  auto ins = amber_run({"inspect", "--json", image});
  ASSERT_EQ(ins.status, ExitStatus::exited(0)) << ins.transcript();
  Layout l = layout_of(ins.out);
  ASSERT_TRUE(l.ok) << "cannot find a RAM run, the metadata and a disk extent in:\n" << ins.out.substr(0, 4000);
  ASSERT_EQ(l.size, file_size(image));

  struct Case {
    const char* section;
    uint64_t offset;
    const char* named;  // what the output must mention
  };
  for (Case c : {Case{"RAM", l.ram_byte, "RAM"}, Case{"metadata", l.metadata_byte, "metadata"},
                 Case{"disk", l.disk_byte, "disk"}}) {
    SCOPED_TRACE(std::string(c.section) + " byte at file offset " + std::to_string(c.offset));
    uint8_t old = flip_byte(image, c.offset);
    auto r = amber_run({"verify", image});
    // Issue 11: no byte that fails its checksum reaches the guest. A RAM
    // run is checked before the guest runs: the resume is refused. A disk
    // extent is checked on its first read: the guest's read is an I/O error.
    std::optional<RunResult> ram_resume;
    std::optional<std::string> disk_read;
    std::string disk_transcript;
    if (std::string(c.section) == "RAM") ram_resume = amber_run({"resume", image});
    if (std::string(c.section) == "disk") {
      auto p = amber({"resume", image});
      if (wait_prompt(*p)) {
        // O_DIRECT: past the guest's page cache, which may hold the block.
        // Short: the shell echoes it, and a line wrapped by the terminal
        // is not found (dd's default block is 512 bytes).
        disk_read = shell(*p, fmt::format("dd if=/dev/vda of=/dev/null iflag=direct skip={} count={};echo rc=$?",
                                          l.disk_extent_offset / 512, std::max<uint64_t>(1, l.disk_extent_length / 512)));
        p->send("exit\n");
      }
      p->wait(60s);
      disk_transcript = p->transcript();
    }
    flip_byte(image, c.offset);  // restore before any assertion can leave
    (void)old;
    std::cout << "  " << c.section << " byte flipped -> " << r.status << ": " << r.out << r.err;
    if (ram_resume) {
      EXPECT_EQ(ram_resume->status, ExitStatus::exited(1)) << ram_resume->transcript();
      EXPECT_NE(ram_resume->err.find("checksum mismatch"), std::string::npos) << ram_resume->transcript();
      EXPECT_EQ(ram_resume->out.find("AMBER"), std::string::npos) << "the guest ran: " << ram_resume->transcript();
    }
    if (std::string(c.section) == "disk") {
      EXPECT_TRUE(disk_read) << "no shell in the resumed guest: " << disk_transcript;
      if (disk_read) {
        EXPECT_NE(disk_read->find("rc=1"), std::string::npos) << *disk_read;
        EXPECT_NE(disk_read->find("Input/output error"), std::string::npos) << *disk_read;
      }
      EXPECT_NE(disk_transcript.find("fails its checksum"), std::string::npos) << disk_transcript;
    }
    EXPECT_EQ(r.status, ExitStatus::exited(1)) << r.transcript();
    EXPECT_NE((r.out + r.err).find(c.named), std::string::npos) << r.transcript();
    expect_no_crash(r.out, r.err, r.status);
  }
  v = amber_run({"verify", image});
  EXPECT_EQ(v.status, ExitStatus::exited(0)) << "image not restored?\n" << v.transcript();

  for (uint64_t cut : {l.size / 2, l.size - 1}) {
    SCOPED_TRACE("image truncated to " + std::to_string(cut) + " of " + std::to_string(l.size) + " bytes");
    std::string bad = *tmp_ / "truncated.amber";
    copy_file(image, bad, cut);
    auto r = amber_run({"verify", bad});
    EXPECT_EQ(r.status, ExitStatus::exited(1)) << r.transcript();
    expect_no_crash(r.out, r.err, r.status);
    auto p = amber({"resume", bad});
    auto st = p->wait(60s);
    std::cout << "  truncated to " << cut << ": verify -> " << r.status << ": " << r.out << r.err
              << "  resume -> " << st << ": " << p->err();
    EXPECT_EQ(st, ExitStatus::exited(1)) << p->transcript();
    EXPECT_EQ(count_lines_with(p->err(), "amber: error:"), 1) << p->transcript();
    expect_no_crash(p->out(), p->err(), st);
    ::unlink(bad.c_str());
  }
}

// (f) A resumed VM can be saved again; the second image resumes with the
// first boot's RAM and the first resume's disk write.
// Issue 12 goal 2: a Linux guest resumed through a warm pool (docs/pool.md)
// is the same VM a plain resume gives: RAM and disk from the image, the
// console over the client's pipes, a private disk overlay per resume, and
// `exit` ending the client with 0. The pool refills and serves the next one.
TEST_F(SnapshotTest, ResumesThroughAWarmPoolWithItsConsoleAndDisk) {
  REQUIRE_SHARED();
  std::string sock = *tmp_ / "pool.sock";
  auto pool = amber({"pool", sock, "--size", "1", "--like", shared().image});
  pool->close_stdin();
  for (int i = 0; i < 600 && pool->err().find("ready: 1 warm VM") == std::string::npos && pool->running(); ++i)
    std::this_thread::sleep_for(100ms);
  ASSERT_NE(pool->err().find("ready: 1 warm VM of 1 vCPU, 256 MiB"), std::string::npos) << pool->transcript();
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    auto p = amber({"resume", shared().image, "--pool", sock, "--timings"});
    ASSERT_TRUE(wait_prompt(*p));
    auto out = shell(*p, "cat /tmp/token /mnt/token");
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, std::string(Shared::kToken) + "\n" + Shared::kToken) << p->transcript();
    // Short: the guest's line editor wraps its echo at 80 columns.
    out = shell(*p, "ls /mnt/pl 2>&1; echo r-$((40+2)) >/mnt/pl; sync; cat /mnt/pl");
    ASSERT_TRUE(out);
    EXPECT_NE(out->find("No such file or directory"), std::string::npos) << "the disk overlay is not private\n"
                                                                        << p->transcript();
    EXPECT_EQ(out->substr(out->rfind('\n') + 1), "r-42") << p->transcript();
    ASSERT_TRUE(p->send("exit\n"));
    ASSERT_TRUE(p->expect("AMBER-DONE\n"));
    EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
    EXPECT_NE(p->err().find("amber: timings: pool hand-over"), std::string::npos) << p->transcript();
    EXPECT_EQ(p->err().find("does not fit"), std::string::npos) << p->transcript();
    EXPECT_EQ(p->out().find("AMBER-READY"), std::string::npos) << "the guest booted again\n" << p->transcript();
  }
  ASSERT_TRUE(pool->signal(SIGTERM));
  EXPECT_EQ(pool->wait(60s), ExitStatus::exited(0)) << pool->transcript();
  EXPECT_NE(pool->err().find("2 resumes served"), std::string::npos) << pool->transcript();
}

TEST_F(SnapshotTest, ResumedVmSavesAgain) {
  REQUIRE_SHARED();
  std::string image2 = *tmp_ / "again.amber";
  {
    auto p = amber({"resume", shared().image, "--save-on-serial", "SAVE-4", "--save", image2});
    ASSERT_TRUE(wait_prompt(*p));
    auto out = shell(*p, "echo f-$((3+4)) > /mnt/f && echo g-1 > /tmp/g && sync");
    ASSERT_TRUE(out);
    ASSERT_TRUE(p->send("echo SAVE-$((2+2))\n"));
    ASSERT_TRUE(p->expect("SAVE-4"));
    ASSERT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
  }
  ASSERT_TRUE(exists(image2));
  auto v = amber_run({"verify", image2});
  EXPECT_EQ(v.status, ExitStatus::exited(0)) << v.transcript();

  auto p = amber({"resume", image2});
  ASSERT_TRUE(wait_prompt(*p));
  auto out = shell(*p, "cat /tmp/token /tmp/g /mnt/token /mnt/f");
  ASSERT_TRUE(out);
  EXPECT_EQ(words(*out), (std::vector<std::string>{Shared::kToken, "g-1", Shared::kToken, "f-7"}))
      << p->transcript();
  ASSERT_TRUE(p->send("exit\n"));
  ASSERT_TRUE(p->expect("AMBER-DONE\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
}

// (g) --compress: the image resumes and takes less space than a raw one of
// the same guest.
TEST_F(SnapshotTest, CompressedImageResumesAndIsSmaller) {
  REQUIRE_SHARED();
  std::string image = *tmp_ / "z.amber";
  ASSERT_TRUE(boot_and_save(*tmp_, image, "tok-zstd", {"--compress"}));
  uint64_t z = allocated_bytes(image), raw = shared().allocated;
  EXPECT_LT(z, raw) << "compressed " << z << " bytes, raw " << raw << " bytes allocated";
  auto v = amber_run({"verify", image});
  EXPECT_EQ(v.status, ExitStatus::exited(0)) << v.transcript();

  auto p = amber({"resume", image});
  ASSERT_TRUE(wait_prompt(*p));
  auto out = shell(*p, "cat /tmp/token /mnt/token");
  ASSERT_TRUE(out);
  EXPECT_EQ(words(*out), (std::vector<std::string>{"tok-zstd", "tok-zstd"})) << p->transcript();
  ASSERT_TRUE(p->send("exit\n"));
  ASSERT_TRUE(p->expect("AMBER-DONE\n"));
  EXPECT_EQ(p->wait(), ExitStatus::exited(0)) << p->transcript();
  RecordProperty("compressed_bytes", std::to_string(z));
  RecordProperty("raw_bytes", std::to_string(raw));
}

}  // namespace
}  // namespace lt

namespace lt {
namespace {

// The virtual address of the first "Linux version " (linux_banner, in
// .rodata) in the kernel ELF `path`: its file offset through the program
// headers. 0 when absent.
uint64_t banner_vaddr(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string f((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t off = f.find("Linux version ");
  if (off == std::string::npos || f.size() < sizeof(Elf64_Ehdr)) return 0;
  Elf64_Ehdr eh;
  std::memcpy(&eh, f.data(), sizeof eh);
  for (size_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (eh.e_phoff + (i + 1) * sizeof ph > f.size()) return 0;
    std::memcpy(&ph, f.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD && off >= ph.p_offset && off < ph.p_offset + ph.p_filesz)
      return ph.p_vaddr + (off - ph.p_offset);
  }
  return 0;
}

// Issue 14: `amber dump` of a Linux guest gives gdb the kernel's memory at
// the kernel's own virtual addresses (PT_LOADs from the saved page tables),
// so `gdb vmlinux vm.core` resolves symbols: here the banner string.
TEST_F(SnapshotTest, DumpOfALinuxGuestIsReadableAtKernelVirtualAddresses) {
  REQUIRE_SHARED();
  if (::access("/usr/bin/gdb", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/gdb (tools/setup.sh installs it)";
  uint64_t va = banner_vaddr(guest_file("vmlinux"));
  ASSERT_GE(va, 0xffffffff80000000ull) << "no banner in " << guest_file("vmlinux");
  TempDir d;
  std::string core = d / "vm.core";
  auto r = run({amber_bin(), "dump", shared().image, "--elf", core}, 120s);
  ASSERT_EQ(r.status, ExitStatus::exited(0)) << r.transcript();
  char addr[32];
  std::snprintf(addr, sizeof addr, "x/s 0x%llx", static_cast<unsigned long long>(va));
  auto g = run({"/usr/bin/gdb", "-nx", "-batch", "-c", core, "-ex", addr}, 120s);
  EXPECT_EQ(g.status, ExitStatus::exited(0)) << g.transcript();
  EXPECT_NE(g.out.find("\"Linux version "), std::string::npos) << g.transcript();
}

}  // namespace
}  // namespace lt
