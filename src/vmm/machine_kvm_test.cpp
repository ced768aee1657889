// Bare-metal guests on real KVM through the whole VMM (Machine): console,
// i8042 reboot, memory, and a save/restore into a fresh VM mid-loop.
// Runs natively where /dev/kvm exists, otherwise inside tools/kvm-sandbox.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>

#include "amber/unique_fd.h"
#include "virtio/disk/raw_disk.h"
#include "snapshot/image_format.h"
#include "vmm/bare_vm_harness.h"

namespace amber::vmm {
namespace {

using testing::BareVm;

TEST(BareMetal, HelloPrintsAndRebootsThroughI8042) {
  BareVm h;
  h.boot("hello");
  auto r = h.m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  EXPECT_NE(h.out.find("Hello from a bare-metal amber guest"), std::string::npos) << h.out;
}

TEST(BareMetal, CounterWritesEveryValueInOrder) {
  BareVm h;
  h.boot("counter");
  auto r = h.m->run({});
  ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  ASSERT_EQ(h.port.values.size(), 3000u);
  for (uint32_t i = 0; i < 3000; ++i) ASSERT_EQ(h.port.values[i], i + 1);
  EXPECT_NE(h.out.find("counter done 3000"), std::string::npos) << h.out;
}

TEST(BareMetal, MemtestFillsAndChecks32MiB) {
  BareVm h;
  h.boot("memtest");
  auto r = h.m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  EXPECT_NE(h.out.find("memtest ok"), std::string::npos) << h.out;
}

TEST(BareMetal, CounterSavedMidLoopContinuesExactlyInAFreshVm) {
  char dir[] = "/tmp/amber-kvm-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string path = std::string(dir) + "/counter.amber";

  BareVm first;
  first.boot("counter");
  auto r1 = first.m->run({"tick 1000", path, false, false});
  ASSERT_EQ(r1.reason, StopReason::kSaved) << r1.message;
  std::vector<uint32_t> before = first.port.values;
  ASSERT_GE(before.size(), 1000u);
  ASSERT_LT(before.size(), 3000u);
  first.m.reset();

  auto img = image::Image::open(path);
  BareVm second;
  second.resume(img);
  auto r2 = second.m->run({});
  ASSERT_EQ(r2.reason, StopReason::kGuestReset) << r2.message;
  ASSERT_FALSE(second.port.values.empty());
  EXPECT_EQ(second.port.values.front(), before.back() + 1) << "the resumed guest did not continue where it stopped";
  for (size_t i = 1; i < second.port.values.size(); ++i) ASSERT_EQ(second.port.values[i], second.port.values[i - 1] + 1);
  EXPECT_EQ(second.port.values.back(), 3000u);
  EXPECT_NE(second.out.find("counter done 3000"), std::string::npos) << second.out;
  EXPECT_TRUE(img.verify().ok);
  unlink(path.c_str());
  rmdir(dir);
}

// Issue 11 ("Crash safety"): a VM with a sparse 10 GiB disk holding 16 MiB
// of data is saved into an image about as large as its RAM plus that data
// (image format 1.1 packs the disk; 1.0 made it 10.7 GB), and resumes from
// it: the resumed VM's disk (a copy-on-write overlay over the packed
// embedded disk) reads every byte where it was, which a second save of the
// resumed VM proves by embedding it again.
TEST(BareMetal, ASparseTenGiBDiskSavesPackedAndResumesWithItsData) {
  char tmpl[] = "/tmp/amber-kvm-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  std::string dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{dir};
  constexpr uint64_t kDiskSize = 10ull << 30, kPiece = 64 << 10, kPieces = 256;
  const uint64_t stride = (kDiskSize / kPieces) & ~uint64_t(4095);
  auto byte_at = [](uint64_t off) { return static_cast<uint8_t>((off * 2654435761ull) >> 13) | 1; };
  std::string disk_path = dir + "/sparse.img";
  {
    UniqueFd fd(::open(disk_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    ASSERT_GE(fd.get(), 0);
    ASSERT_EQ(::ftruncate(fd.get(), static_cast<off_t>(kDiskSize)), 0);
    std::vector<uint8_t> buf(kPiece);
    for (uint64_t i = 0; i < kPieces; ++i) {
      for (uint64_t b = 0; b < kPiece; ++b) buf[b] = byte_at(i * stride + b);
      ASSERT_EQ(::pwrite(fd.get(), buf.data(), buf.size(), static_cast<off_t>(i * stride)), ssize_t(kPiece));
    }
  }
  const uint64_t data = kPieces * kPiece;  // 16 MiB
  // Reads the whole data of an image's embedded disk and holes beside it.
  auto expect_disk_data = [&](const image::Image& img, const char* which) {
    ASSERT_EQ(img.disks().size(), 1u) << which;
    auto& d = img.disks()[0];
    EXPECT_TRUE(d.packed) << which;
    EXPECT_EQ(d.size, kDiskSize) << which;
    uint64_t sum = 0;
    for (auto& e : d.extents) sum += e.length;
    EXPECT_EQ(sum, data) << which;
    std::vector<uint8_t> got(kPiece + 8192);
    for (uint64_t i = 0; i < kPieces; ++i) {
      uint64_t off = i ? i * stride - 4096 : 0;
      img.read_disk(0, off, got);
      for (uint64_t b = 0; b < got.size(); ++b) {
        uint64_t at = off + b;
        bool in = at >= i * stride && at < i * stride + kPiece;
        ASSERT_EQ(got[b], in ? byte_at(at) : 0) << which << ": disk offset " << at;
      }
    }
    auto v = img.verify();
    EXPECT_TRUE(v.ok) << which << ": " << v.first_bad;
  };

  constexpr uint64_t kMem = 64ull << 20;
  auto make = [&](BareVm& vm) {
    MachineConfig cfg;
    cfg.mem_bytes = kMem;
    cfg.disks = {{"vda", "sparse-disk", false}};
    GuestMemory mem;
    for (auto& r : x86::ram_layout(kMem)) mem.add_region(r.gpa, Mapping::anonymous(r.size));
    std::vector<std::unique_ptr<block::DiskBackend>> disks;
    disks.push_back(block::RawDisk::open(disk_path, false, "sparse-disk"));
    vm.m = std::make_unique<Machine>(vm.hv, cfg, std::move(mem), std::move(disks), nullptr);
    vm.attach();
    vm.m->boot_bare(testing::bare_guest("counter"));
  };
  auto apparent = [](const std::string& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return std::pair<uint64_t, uint64_t>(static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_blocks) * 512);
  };

  std::string first_image = dir + "/first.amber";
  double first_ms = 0;
  {
    BareVm first;
    make(first);
    RunOptions ro{"tick 1000", first_image, false, false};
    ro.on_saved = [&](const SaveResult& r) { first_ms = r.total_ms; };
    auto r = first.m->run(ro);
    ASSERT_EQ(r.reason, StopReason::kSaved) << r.message;
  }
  auto [size1, alloc1] = apparent(first_image);
  // RAM keeps its fixed, page-aligned offsets (it is mmap'ed per run), so it
  // counts at its full size; the disk counts at its data.
  EXPECT_LT(size1, kMem + data + (2u << 20)) << "apparent size of an image with a 10 GiB disk";

  auto img = image::Image::open(first_image);
  expect_disk_data(img, "first image");

  std::string overlay = dir + "/vda.cow", second_image = dir + "/second.amber";
  auto t0 = std::chrono::steady_clock::now();
  BareVm second;
  second.m = resume_machine(second.hv, img, {.overlays = {{"vda", overlay}}}, nullptr);
  second.attach();
  double resume_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  double second_ms = 0;
  RunOptions ro{"tick 2500", second_image, false, false};
  ro.on_saved = [&](const SaveResult& r) { second_ms = r.total_ms; };
  auto r2 = second.m->run(ro);
  ASSERT_EQ(r2.reason, StopReason::kSaved) << r2.message;
  ASSERT_FALSE(second.port.values.empty());
  EXPECT_GT(second.port.values.front(), 1000u);  // it continued where the save left it
  second.m.reset();
  EXPECT_TRUE(std::filesystem::exists(overlay));  // the guest's writes (none) go there, never to the image

  auto [size2, alloc2] = apparent(second_image);
  EXPECT_LT(size2, kMem + data + (2u << 20));
  auto again = image::Image::open(second_image);
  expect_disk_data(again, "image saved by the resumed VM");
  EXPECT_EQ(again.disks()[0].extents.size(), img.disks()[0].extents.size());
  for (size_t j = 0; j < img.disks()[0].extents.size(); ++j)
    EXPECT_EQ(again.disks()[0].extents[j].xxh3, img.disks()[0].extents[j].xxh3) << "extent " << j;
  std::cout << "[ figures ] 10 GiB sparse disk, " << data << " data bytes, " << kMem
            << " bytes of RAM: image apparent " << size1 << " (allocated " << alloc1 << "), saved in " << first_ms
            << " ms; resume " << resume_ms << " ms; re-save of the resumed VM " << size2 << " bytes (allocated " << alloc2 << ") in " << second_ms
            << " ms\n";
}

struct TempDir {
  std::string path;
  TempDir() {
    char d[] = "/tmp/amber-kvm-test-XXXXXX";
    path = mkdtemp(d) ? d : "";
  }
  std::string file(const char* name) const { return path + "/" + name; }
  ~TempDir() {
    for (const char* f : {"a.amber", "b.amber"}) unlink(file(f).c_str());
    rmdir(path.c_str());
  }
};

// QEMU's fw_cfg probe (selector 0x510, signature at 0x511): amber has no
// fw_cfg and reads all ones there; the probe neither saves (--save is given)
// nor crashes, and the guest reports through --debug-exit (0x10: all ones).
TEST(BareMetal, AFwCfgProbeFindsNoFwCfgAndDoesNotSave) {
  for (uint16_t ctl : {layout::kAmberCtlPort, layout::kAmberCtlPortLegacy}) {
    SCOPED_TRACE(ctl);
    TempDir dir;
    BareVm h;
    h.debug_exit_port = layout::kDebugExitPort;
    h.ctl_port = ctl;
    h.boot("fwcfg_probe");
    auto r = h.m->run({"", dir.file("a.amber"), false, false});
    ASSERT_EQ(r.reason, StopReason::kGuestExit) << r.message;
    ASSERT_EQ(h.port.values.size(), 1u);
    EXPECT_NE(h.port.values[0], 0x554d4551u) << "the guest read \"QEMU\"";
    if (ctl == layout::kAmberCtlPort) {
      EXPECT_EQ(h.port.values[0], 0xffffffffu);
      EXPECT_EQ(r.exit_status(), (0x10 << 1) | 1);
    }
    EXPECT_NE(access(dir.file("a.amber").c_str(), F_OK), 0) << "the probe saved the VM";
  }
}

// A guest rings the (new) control port, then writes 0x2a to the debug-exit
// port: the first run saves, and the VM resumed from the image still has
// debug-exit and ends with (0x2a << 1) | 1.
TEST(BareMetal, AResumedVmKeepsDebugExit) {
  TempDir dir;
  BareVm first;
  first.debug_exit_port = layout::kDebugExitPort;
  first.boot("saveexit");
  auto r1 = first.m->run({"", dir.file("a.amber"), false, false});
  ASSERT_EQ(r1.reason, StopReason::kSaved) << r1.message;
  first.m.reset();

  auto img = image::Image::open(dir.file("a.amber"));
  BareVm second;
  second.resume(img);
  EXPECT_EQ(second.m->config().debug_exit_port, layout::kDebugExitPort);
  auto r2 = second.m->run({});
  ASSERT_EQ(r2.reason, StopReason::kGuestExit) << r2.message;
  EXPECT_EQ(r2.exit_status(), 0x55);
}

// A VM with the control port at 0x510 (as resumed from an image saved
// before it moved) saves on a ring there, and the VM resumed from that image
// keeps it there: the guest's second ring saves again.
TEST(BareMetal, TheLegacyControlPortKeepsWorkingAcrossAResume) {
  TempDir dir;
  BareVm first;
  first.debug_exit_port = layout::kDebugExitPort;
  first.ctl_port = layout::kAmberCtlPortLegacy;
  first.boot("legacyring");
  auto r1 = first.m->run({"", dir.file("a.amber"), false, false});
  ASSERT_EQ(r1.reason, StopReason::kSaved) << r1.message;
  EXPECT_TRUE(first.port.values.empty());
  first.m.reset();

  auto img_a = image::Image::open(dir.file("a.amber"));
  BareVm second;
  second.resume(img_a);
  EXPECT_EQ(second.m->config().ctl_port, layout::kAmberCtlPortLegacy);
  auto r2 = second.m->run({"", dir.file("b.amber"), false, false});
  ASSERT_EQ(r2.reason, StopReason::kSaved) << r2.message;
  EXPECT_EQ(second.port.values, (std::vector<uint32_t>{1}));
  second.m.reset();

  auto img_b = image::Image::open(dir.file("b.amber"));
  BareVm third;
  third.resume(img_b);
  auto r3 = third.m->run({});
  ASSERT_EQ(r3.reason, StopReason::kGuestExit) << r3.message;
  EXPECT_EQ(r3.exit_status(), 3);
  EXPECT_EQ(third.port.values, (std::vector<uint32_t>{2}));
}

// A compressed image resumes with its RAM filled lazily (snapshot/lazy_ram.h):
// cowstorm, saved with 32 MiB of pattern A, checks every word of it in the
// resumed VM, so every byte KVM maps must be the image's. Without the
// background pass, each non-zero chunk comes in through a fault of the
// guest's (KVM's get_user_pages waiting on the userfaultfd); zero chunks
// never. Then the default (background) pass, and the eager fallback.
TEST(BareMetal, CompressedImageResumesLazilyAndTheGuestChecksItsMemory) {
  TempDir dir;
  std::string path = dir.file("a.amber");
  {
    BareVm first;
    first.boot("cowstorm");
    RunOptions ro;
    ro.save_path = path;
    ro.compress = true;
    auto r = first.m->run(ro);
    ASSERT_EQ(r.reason, StopReason::kSaved) << r.message;
  }
  auto img = image::Image::open(path);
  ASSERT_TRUE(img.ram_regions()[0].compressed());
  size_t chunks = 0;
  for (auto& r : img.ram_regions()) chunks += r.chunks.size();
  ASSERT_GE(chunks, (32u << 20) / image::kChunkSize) << "32 MiB of pattern A";
  enum Mode { kFaultsOnly, kBackground, kEager };
  for (Mode mode : {kFaultsOnly, kBackground, kEager}) {
    SCOPED_TRACE(mode == kFaultsOnly ? "faults only" : mode == kBackground ? "background" : "eager fallback");
    ResumeOptions opts;
    opts.lazy.background = mode != kFaultsOnly;
    if (mode == kEager)
      opts.lazy.open_uffd = [](std::string& why) {
        why = "injected";
        return -1;
      };
    BareVm second;
    second.m = resume_machine(second.hv, img, opts, nullptr);
    second.attach();
    const image::LazyFill* fill = second.m->lazy_fill();
    if (mode == kEager) {
      EXPECT_EQ(fill, nullptr);
    } else {
      ASSERT_NE(fill, nullptr) << "no userfaultfd in this VM: the lazy path is not tested";
    }
    auto r = second.m->run({});
    ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
    EXPECT_NE(second.out.find("cowstorm ok"), std::string::npos) << second.out;
    if (mode == kFaultsOnly) {
      auto st = fill->stats();
      EXPECT_GE(st.decoded, (32u << 20) / image::kChunkSize);
      EXPECT_EQ(st.decoded, st.fault_fills) << "without the background pass only faults fill";
      EXPECT_LE(st.decoded, chunks);
      EXPECT_GT(st.zero_chunks, (64u << 20) / image::kChunkSize) << "128 MiB of RAM, under 48 MiB of it ever written";
    }
    if (mode == kBackground) {
      second.m->wait_for_lazy_ram();  // the background pass ends (the guest touched all but a few chunks)
      EXPECT_EQ(second.m->lazy_fill(), nullptr);
    }
  }
}

}  // namespace
}  // namespace amber::vmm
