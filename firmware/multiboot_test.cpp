#include "firmware/multiboot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "amber/layout.h"
#include "firmware/boot_layout.h"
#include "firmware/expect_error.h"
#include "firmware/kernel_loader.h"
#include "firmware/multiboot_test_support.h"
#include "firmware/page_tables.h"

namespace amber::x86 {
namespace {

using ::testing::HasSubstr;
using namespace testing;

constexpr uint64_t kRam = 64ull << 20;

std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

std::string guest_string(const GuestMemory& mem, uint64_t addr) {
  std::string s;
  for (char c; (c = static_cast<char>(mem.read_obj<uint8_t>(addr++).value())) != 0;) s += c;
  return s;
}

TEST(MultibootScan, FindsTheFirstAlignedHeaderWithAValidChecksumInTheFirst8KiB) {
  std::vector<uint8_t> f(0x3000, 0);
  EXPECT_FALSE(scan_multiboot_header(f).header_offset);
  put_mb_header(f, 0x1ff4, 0);  // its 12 bytes end at 8192: still inside
  EXPECT_EQ(scan_multiboot_header(f).header_offset, 0x1ff4u);
  std::vector<uint8_t> late(0x3000, 0);
  put_mb_header(late, 0x2000, 0);  // past the first 8192 bytes (3.1.1)
  EXPECT_FALSE(scan_multiboot_header(late).header_offset);
  std::vector<uint8_t> unaligned(0x1000, 0);
  put_mb_header(unaligned, 0x102, 0);  // not 32-bit aligned
  EXPECT_FALSE(scan_multiboot_header(unaligned).header_offset);
  std::vector<uint8_t> bad(0x1000, 0);
  put_mb_header(bad, 0x100, 0);
  bad[0x108] ^= 1;  // checksum
  auto s = scan_multiboot_header(bad);
  EXPECT_FALSE(s.header_offset);
  EXPECT_EQ(s.bad_checksum_offset, 0x100u);
  put_mb_header(bad, 0x200, 3);  // a valid one after a bad one is found
  EXPECT_EQ(scan_multiboot_header(bad).header_offset, 0x200u);
}

TEST(MultibootImage, Elf32TranslatesAHighEntryThroughItsSegment) {
  auto img = parse_multiboot(make_mb_elf32(0xc0000000), kRam);
  EXPECT_EQ(img.form, MultibootImage::Form::kElf32);
  EXPECT_EQ(img.header_offset, kMbSegOffset);
  ASSERT_EQ(img.segments.size(), 1u);
  EXPECT_EQ(img.segments[0].paddr, kMbLoadAddr);
  EXPECT_EQ(img.entry, kMbEntry);  // physical, though e_entry was 0xc0100020
  EXPECT_EQ(img.load_start, kMbLoadAddr);
  EXPECT_EQ(img.load_end, kMbLoadAddr + kMbMemSz);
  EXPECT_EQ(parse_multiboot(make_mb_elf64(0xffffffff80000000), kRam).entry, kMbEntry);
  EXPECT_EQ(parse_multiboot(make_mb_elf64(), kRam).form, MultibootImage::Form::kElf64);
}

TEST(Multiboot, LoadsAnElf32WithModulesCommandLineAndInformation) {
  TestVm vm(kRam);
  vm.mem.write(kMbLoadAddr, std::vector<uint8_t>(kMbMemSz, 0xaa));  // stale memory in the bss
  auto f = make_mb_elf32();
  auto m0 = bytes("first module\n"), m1 = std::vector<uint8_t>(5000, 0x5a);
  std::vector<BootModule> mods{{m0, "mod.txt"}, {m1, "/tmp/two.bin arg1 arg2"}};
  std::string cmdline = multiboot_command_line("mb.elf", "a=b");
  EXPECT_EQ(cmdline, "mb.elf a=b");
  BootResult r = load_kernel(vm.mem, f, mods, cmdline, kRam);

  EXPECT_EQ(r.format, KernelFormat::kMultiboot);
  EXPECT_THAT(r.description, HasSubstr("multiboot ELF32"));
  EXPECT_THAT(r.description, HasSubstr("mod.txt"));
  // Machine state, Multiboot 0.6.96 section 3.2.
  EXPECT_EQ(r.cpu.mode, CpuBootState::Mode::kProtected32);
  EXPECT_EQ(r.cpu.rip, kMbEntry);
  EXPECT_EQ(r.cpu.rax, 0x2BADB002u);
  EXPECT_EQ(r.cpu.rbx, layout::kMultibootInfo);
  EXPECT_EQ(r.cpu.cr0 & kCr0Pg, 0u);
  EXPECT_EQ(r.cpu.rflags & (1u << 9), 0u);  // IF
  EXPECT_EQ(r.cpu.cs.db, 1);                 // 32-bit code
  EXPECT_EQ(r.cpu.cs.limit, 0xffffffffu);
  EXPECT_EQ(r.cpu.cs.g, 1);                  // flat 4 GiB
  EXPECT_EQ(r.cpu.ds.limit, 0xffffffffu);

  EXPECT_EQ(guest_bytes(vm.mem, kMbLoadAddr, kMbFileSz),
            std::vector<uint8_t>(f.begin() + kMbSegOffset, f.begin() + kMbSegOffset + kMbFileSz));
  EXPECT_EQ(guest_bytes(vm.mem, kMbLoadAddr + kMbFileSz, kMbMemSz - kMbFileSz),
            std::vector<uint8_t>(kMbMemSz - kMbFileSz, 0));  // bss zeroed

  auto info = vm.mem.read_obj<MultibootInfo>(layout::kMultibootInfo).value();
  EXPECT_EQ(info.flags, kMbInfoMemory | kMbInfoCmdline | kMbInfoMods | kMbInfoMmap | kMbInfoBootLoaderName);
  EXPECT_EQ(info.mem_lower, 639u);
  EXPECT_EQ(info.mem_upper, (kRam - 0x100000) / 1024);
  EXPECT_EQ(guest_string(vm.mem, info.cmdline), "mb.elf a=b");
  EXPECT_EQ(guest_string(vm.mem, info.boot_loader_name), "amber");
  ASSERT_EQ(info.mods_count, 2u);
  auto mod0 = vm.mem.read_obj<MultibootModule>(info.mods_addr).value();
  auto mod1 = vm.mem.read_obj<MultibootModule>(info.mods_addr + sizeof(MultibootModule)).value();
  EXPECT_EQ(mod0.mod_start, kMbLoadAddr + kMbMemSz);  // page-aligned right above the image
  EXPECT_EQ(mod0.mod_end, mod0.mod_start + m0.size());
  EXPECT_EQ(mod1.mod_start % kPageSize, 0u);
  EXPECT_GE(mod1.mod_start, mod0.mod_end);
  EXPECT_EQ(mod1.mod_end - mod1.mod_start, m1.size());
  EXPECT_EQ(guest_bytes(vm.mem, mod0.mod_start, m0.size()), m0);
  EXPECT_EQ(guest_bytes(vm.mem, mod1.mod_start, m1.size()), m1);
  EXPECT_EQ(guest_string(vm.mem, mod0.string), "mod.txt");
  EXPECT_EQ(guest_string(vm.mem, mod1.string), "/tmp/two.bin arg1 arg2");
  EXPECT_EQ(r.initrd_addr, mod0.mod_start);

  // The memory map is the e820 map, in 24-byte records whose size field says 20.
  auto map = memory_map(kRam);
  ASSERT_EQ(info.mmap_length, map.size() * sizeof(MultibootMmapEntry));
  for (size_t i = 0; i < map.size(); ++i) {
    auto e = vm.mem.read_obj<MultibootMmapEntry>(info.mmap_addr + i * sizeof(MultibootMmapEntry)).value();
    // The record is packed (base_addr at offset 4): copies, not references,
    // go to EXPECT_EQ (UBSan: misaligned reference binding).
    EXPECT_EQ(uint32_t{e.size}, 20u);
    EXPECT_EQ(uint64_t{e.base_addr}, map[i].addr);
    EXPECT_EQ(uint64_t{e.length}, map[i].size);
    EXPECT_EQ(uint32_t{e.type}, map[i].type);
  }
  // Everything the information points at lies below 1 MiB, away from the
  // kernel, and outside the RAM the map offers above 1 MiB.
  for (uint64_t a : {uint64_t{info.cmdline}, uint64_t{info.mods_addr}, uint64_t{info.mmap_addr},
                     uint64_t{info.boot_loader_name}, uint64_t{mod0.string}, uint64_t{mod1.string}})
    EXPECT_LT(a, layout::kHighMemStart);
}

TEST(Multiboot, LoadsAnElf64) {
  TestVm vm(kRam);
  BootResult r = load_kernel(vm.mem, make_mb_elf64(), std::span<const BootModule>{}, "k", kRam);
  EXPECT_EQ(r.cpu.mode, CpuBootState::Mode::kProtected32);
  EXPECT_EQ(r.cpu.rip, kMbEntry);
  EXPECT_THAT(r.description, HasSubstr("ELF64"));
  EXPECT_EQ(vm.mem.read_obj<MultibootInfo>(layout::kMultibootInfo).value().mods_count, 0u);
}

TEST(Multiboot, LoadsTheAddressFieldForm) {
  TestVm vm(kRam);
  vm.mem.write(kAoutLoad, std::vector<uint8_t>(kAoutBssEnd - kAoutLoad, 0xaa));
  auto f = make_mb_aout();
  BootResult r = load_kernel(vm.mem, f, std::span<const BootModule>{}, "k", kRam);
  EXPECT_EQ(r.cpu.rip, kAoutEntry);
  EXPECT_THAT(r.description, HasSubstr("address fields"));
  // File offset 0 is load_addr (the header is 0x40 into both); only up to
  // load_end_addr is copied, the rest up to bss_end_addr is zeroed.
  EXPECT_EQ(guest_bytes(vm.mem, kAoutLoad, kAoutLoadEnd - kAoutLoad),
            std::vector<uint8_t>(f.begin(), f.begin() + (kAoutLoadEnd - kAoutLoad)));
  EXPECT_EQ(guest_bytes(vm.mem, kAoutLoadEnd, kAoutBssEnd - kAoutLoadEnd),
            std::vector<uint8_t>(kAoutBssEnd - kAoutLoadEnd, 0));
  EXPECT_EQ(r.kernel_end, kAoutBssEnd);

  // load_end_addr 0: the rest of the file; bss_end_addr 0: no bss.
  auto h = aout_header(f);
  h.load_end_addr = 0;
  h.bss_end_addr = 0;
  auto whole = make_mb_aout(h);
  auto img = parse_multiboot(whole, kRam);
  ASSERT_EQ(img.segments.size(), 1u);
  EXPECT_EQ(img.segments[0].offset, 0u);
  EXPECT_EQ(img.segments[0].filesz, kAoutFileSz);
  EXPECT_EQ(img.segments[0].memsz, kAoutFileSz);
  // A header further into the file than into the image: the image starts
  // at that difference in the file.
  h = aout_header(f);
  h.header_addr = kAoutLoad + 0x10;
  EXPECT_EQ(parse_multiboot(make_mb_aout(h), kRam).segments[0].offset, kAoutHeaderOff - 0x10);
}

TEST(Multiboot, RejectsBadHeaders) {
  auto flags = [](uint32_t fl) { return make_mb_elf32(0, fl); };
  expect_error([&] { parse_multiboot(flags(1u << 3), kRam); }, "requires features amber does not know");
  EXPECT_NO_THROW(parse_multiboot(flags(kMbHeaderVideoMode | (1u << 20)), kRam));  // optional bits are fine
  auto bad = make_mb_elf32();
  bad[kMbSegOffset + 8] ^= 1;
  expect_error([&] { parse_multiboot(bad, kRam); }, "bad checksum");
  std::vector<uint8_t> flat(0x1000, 0x90);
  put_mb_header(flat, 0x40, kMbHeaderPageAlign);
  expect_error([&] { parse_multiboot(flat, kRam); }, "no address fields (flag bit 16) and the file is not ELF");
  auto wrong_machine = make_mb_elf32();
  wrong_machine[18] = 62;
  expect_error([&] { parse_multiboot(wrong_machine, kRam); }, "has machine 62 (want 3)");
}

TEST(Multiboot, RejectsTruncatedFiles) {
  auto f = make_mb_elf32();
  auto seg_cut = std::vector<uint8_t>(f.begin(), f.end() - 1);
  expect_error([&] { parse_multiboot(seg_cut, kRam); }, "truncated ELF32: segment 0");
  auto ph = get<Elf32Phdr>(f, sizeof(Elf32Ehdr));
  ph.p_offset = 0xfff0;
  put(f, sizeof(Elf32Ehdr), ph);
  expect_error([&] { parse_multiboot(f, kRam); }, "truncated ELF32");
  auto g = make_mb_elf32();
  auto eh = get<Elf32Ehdr>(g, 0);
  eh.e_phoff = 0x1ff0;
  put(g, 0, eh);
  expect_error([&] { parse_multiboot(g, kRam); }, "program headers at 0x1ff0 run past");

  auto a = make_mb_aout();
  auto fields_cut = std::vector<uint8_t>(a.begin(), a.begin() + kAoutHeaderOff + 20);
  expect_error([&] { parse_multiboot(fields_cut, kRam); }, "address fields run past");
  auto h = aout_header(a);
  h.load_end_addr = kAoutLoad + kAoutFileSz + 1;
  h.bss_end_addr = 0;
  expect_error([&] { parse_multiboot(make_mb_aout(h), kRam); }, "truncated: multiboot load_addr..load_end_addr");
}

TEST(Multiboot, RejectsASegmentWithMoreFileThanMemoryBytes) {
  auto f = make_mb_elf32();
  auto ph = get<Elf32Phdr>(f, sizeof(Elf32Ehdr));
  ph.p_memsz = 0;  // not skipped as empty: it has file bytes
  put(f, sizeof(Elf32Ehdr), ph);
  expect_error([&] { parse_multiboot(f, kRam); }, "ELF32 segment 0 has p_filesz 0x1000 > p_memsz 0x0");
}

TEST(Multiboot, RejectsImagesOutsideRamOrOverBootData) {
  auto f = make_mb_elf32();
  auto ph = get<Elf32Phdr>(f, sizeof(Elf32Ehdr));
  ph.p_paddr = 0x8000;  // amber's boot data
  put(f, sizeof(Elf32Ehdr), ph);
  expect_error([&] { parse_multiboot(f, kRam); }, "is outside guest RAM [0x100000, 0x4000000) (below 1 MiB");
  ph.p_paddr = kRam - 0x1000;  // bss runs past RAM
  put(f, sizeof(Elf32Ehdr), ph);
  expect_error([&] { parse_multiboot(f, kRam); }, "ELF32 segment 0 at 0x3fff000+0x3000 is outside guest RAM");
  ph.p_paddr = 0xfffff000;
  ph.p_memsz = 0x2000;  // wraps in 32 bits
  put(f, sizeof(Elf32Ehdr), ph);
  expect_error([&] { parse_multiboot(f, kRam); }, "outside guest RAM");

  auto h = aout_header(make_mb_aout());
  h.load_addr = 0x90000;
  h.header_addr = 0x90040;
  h.load_end_addr = 0x91000;
  h.bss_end_addr = 0x92000;
  h.entry_addr = 0x90100;
  expect_error([&] { parse_multiboot(make_mb_aout(h), kRam); }, "multiboot image at 0x90000");
}

TEST(Multiboot, RejectsInconsistentAddressFields) {
  const auto base = aout_header(make_mb_aout());
  auto with = [&](auto change) {
    auto h = base;
    change(h);
    return make_mb_aout(h);
  };
  expect_error([&] { parse_multiboot(with([](MultibootHeader& h) { h.bss_end_addr = kAoutLoadEnd - 1; }), kRam); },
               "bss_end_addr 0x200fff is below the end of the loaded image 0x201000");
  expect_error([&] { parse_multiboot(with([](MultibootHeader& h) { h.load_end_addr = kAoutLoad - 1; }), kRam); },
               "load_end_addr 0x1fffff is below load_addr");
  expect_error([&] { parse_multiboot(with([](MultibootHeader& h) { h.header_addr = kAoutLoad - 4; }), kRam); },
               "header_addr 0x1ffffc is below load_addr");
  expect_error([&] { parse_multiboot(with([](MultibootHeader& h) { h.header_addr = kAoutLoad + 0x80; }), kRam); },
               "exceeds the header's file offset 0x40");
  expect_error([&] { parse_multiboot(with([](MultibootHeader& h) { h.entry_addr = kAoutLoadEnd; }), kRam); },
               "entry_addr 0x201000 is outside the loaded image");
  expect_error([&] { parse_multiboot(with([](MultibootHeader& h) { h.entry_addr = kAoutLoad - 1; }), kRam); },
               "entry_addr 0x1fffff is outside the loaded image");
}

TEST(Multiboot, RejectsAnEntryOutsideTheLoadedImage) {
  auto f = make_mb_elf32();
  auto eh = get<Elf32Ehdr>(f, 0);
  eh.e_entry = kMbLoadAddr + kMbFileSz;  // in the bss: nothing loaded there
  put(f, 0, eh);
  expect_error([&] { parse_multiboot(f, kRam); }, "entry 0x101000 is outside the loaded image");
}

TEST(Multiboot, RejectsModulesThatDoNotFitBeforeWritingAnything) {
  TestVm vm(kRam);
  std::vector<uint8_t> big(kRam - kMbLoadAddr - kMbMemSz - 0x1000 + 1, 1);  // one byte too many with the next
  std::vector<uint8_t> one(0x1000, 2);
  std::vector<BootModule> mods{{one, "one"}, {big, "big.img x"}};
  expect_error([&] { load_multiboot(vm.mem, make_mb_elf32(), mods, "k", kRam); },
               "module 1 (big.img, ");
  EXPECT_EQ(vm.mem.read_obj<uint32_t>(kMbLoadAddr).value(), 0u) << "the image was written before the error";
  std::vector<BootModule> many(kMaxMultibootModules + 1, BootModule{one, "m"});
  expect_error([&] { load_multiboot(vm.mem, make_mb_elf32(), many, "k", kRam); }, "65 modules (amber takes at most 64)");
  std::vector<BootModule> nul{{one, std::string("a\0b", 3)}};
  expect_error([&] { load_multiboot(vm.mem, make_mb_elf32(), nul, "k", kRam); }, "module 0 string: contains a NUL");
  std::vector<BootModule> long_strings(3, BootModule{one, std::string(30000, 's')});
  expect_error([&] { load_multiboot(vm.mem, make_mb_elf32(), long_strings, "k", kRam); },
               "module strings take more than");
  expect_error([&] { load_multiboot(vm.mem, make_mb_elf32(), {}, std::string(5000, 'c'), kRam); },
               "cmdline: 5000 bytes exceed");
  EXPECT_EQ(vm.mem.read_obj<uint32_t>(kMbLoadAddr).value(), 0u);
}

TEST(KernelDetection, TellsTheFormatsApartByTheirHeaders) {
  EXPECT_EQ(detect_kernel_format(make_mb_elf32()), KernelFormat::kMultiboot);
  EXPECT_EQ(detect_kernel_format(make_mb_elf64()), KernelFormat::kMultiboot);
  EXPECT_EQ(detect_kernel_format(make_mb_aout()), KernelFormat::kMultiboot);
  EXPECT_EQ(detect_kernel_format(make_pvh_elf()), KernelFormat::kPvh);
  EXPECT_EQ(detect_kernel_format(make_bzimage()), KernelFormat::kBzImage);
  EXPECT_EQ(detect_kernel_format(make_pvh_elf(false)), KernelFormat::kPvh);  // its loader says what is missing
  // A PVH vmlinux that also carries a multiboot header is booted through PVH.
  auto both = make_pvh_elf();
  put_mb_header(both, 0x1000, 0);
  EXPECT_EQ(detect_kernel_format(both), KernelFormat::kPvh);
  expect_error([&] { detect_kernel_format(std::vector<uint8_t>(4096, 'x')); },
               "not a bzImage (\"HdrS\" at 0x202), a PVH ELF (ELF64 with the Xen PVH entry note) or a multiboot kernel");
  std::vector<uint8_t> bad(4096, 0);
  put_mb_header(bad, 0x20, 0);
  bad[0x28] ^= 0x80;
  expect_error([&] { detect_kernel_format(bad); }, "the multiboot magic at 0x20 has a bad checksum");
  EXPECT_TRUE(is_linux_format(KernelFormat::kBzImage));
  EXPECT_TRUE(is_linux_format(KernelFormat::kPvh));
  EXPECT_FALSE(is_linux_format(KernelFormat::kMultiboot));
}

TEST(KernelDetection, ALinuxKernelTakesOneModule) {
  TestVm vm(kRam);
  std::vector<uint8_t> a(100, 1), b(100, 2);
  std::vector<BootModule> two{{a, "a"}, {b, "b"}};
  expect_error([&] { load_kernel(vm.mem, make_bzimage(), two, "quiet", kRam); },
               "a Linux kernel takes one initrd, not 2");
  std::vector<BootModule> one{{a, "a"}};
  BootResult r = load_kernel(vm.mem, make_pvh_elf(), one, "quiet", kRam);
  EXPECT_EQ(r.format, KernelFormat::kPvh);
  EXPECT_EQ(r.initrd_size, 100u);
}

}  // namespace
}  // namespace amber::x86
