#include "snapshot/elf_core.h"

#include <elf.h>
#include <fcntl.h>
#include <linux/kvm.h>  // only to pin elf_core.cpp's mirror of the KVM structs
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/core.h>

#include "snapshot/test_util.h"

namespace amber::image {
namespace {

using testing::TempDir;

// elf_core.cpp reads `regs` and `sregs` at these offsets; <linux/kvm.h> is
// what src/kvm saved them with.
static_assert(sizeof(kvm_regs) == 144 && offsetof(kvm_regs, rip) == 128 && offsetof(kvm_regs, rsp) == 48);
static_assert(sizeof(kvm_sregs) == 312 && offsetof(kvm_sregs, gdt) == 192 && offsetof(kvm_sregs, cr3) == 240);
static_assert(sizeof(kvm_segment) == 24 && offsetof(kvm_segment, selector) == 12);

constexpr uint64_t kHighGpa = 0x100000000ull;

template <class T>
std::vector<uint8_t> bytes_of(const T& v) {
  auto* p = reinterpret_cast<const uint8_t*>(&v);
  return {p, p + sizeof(T)};
}

StateNode vcpu_node(uint64_t rip, uint64_t rsp, uint64_t cr3) {
  kvm_regs r{};
  r.rax = 0x1111, r.rbx = 0x2222, r.r15 = 0xf15, r.rip = rip, r.rsp = rsp, r.rflags = 0x246;
  kvm_sregs s{};
  s.cs.selector = 0x10, s.cs.type = 0xb, s.cs.present = 1, s.cs.s = 1, s.cs.l = 1;
  s.ss.selector = 0x18, s.fs.base = 0x7000, s.gs.base = 0x9000;
  s.cr0 = 0x80000033, s.cr3 = cr3, s.cr4 = 0x20, s.efer = 0x500, s.idt.base = 0xabc000, s.idt.limit = 0xfff;
  StateNode n;
  n.props["regs"] = bytes_of(r);
  n.props["sregs"] = bytes_of(s);
  // kvm_msrs: nmsrs, pad, then one entry {index, reserved, data}
  std::vector<uint8_t> msrs(8 + 16, 0);
  uint32_t count = 1, index = 0xc0000102;
  uint64_t data = 0xffff888000001234ull;
  std::memcpy(msrs.data(), &count, 4);
  std::memcpy(msrs.data() + 8, &index, 4);
  std::memcpy(msrs.data() + 16, &data, 8);
  n.props["msrs"] = msrs;
  // XSAVE area (4096 bytes): FXSAVE's MXCSR at 24, XMM0 at 160.
  std::vector<uint8_t> xsave(4096, 0);
  uint32_t mxcsr = 0x1f80;
  std::memcpy(xsave.data() + 24, &mxcsr, 4);
  for (size_t b = 0; b < 16; ++b) xsave[160 + b] = static_cast<uint8_t>(0x10 + b + (rip & 0xf));
  n.props["xsave"] = xsave;
  return n;
}

struct Fixture {
  TempDir dir;
  // 64 pages at 0 with data in pages 0-2, 10 and 63; 16 zero pages at 4 GiB.
  Mapping low = testing::make_ram(64, {0, 1, 2, 10, 63});
  Mapping high = testing::make_ram(16, {});
  SaveInput in;

  Fixture() {
    in.machine.children["config"].props["cpus"] = {2, 0, 0, 0};
    in.machine.children["vcpus"].children["vcpu@0"] = vcpu_node(0x100a2c, 0x8ff0, 0x1000);
    in.machine.children["vcpus"].children["vcpu@1"] = vcpu_node(0x100b00, 0x7ff0, 0x2000);
    in.ram.push_back({0, {low.data(), low.size()}});
    in.ram.push_back({kHighGpa, {high.data(), high.size()}});
  }
  std::string image(bool compress) {
    auto path = dir.file(compress ? "z.amber" : "vm.amber");
    write_image(path, in, {.compress = compress, .sync = false});
    return path;
  }
};

struct Core {
  std::vector<uint8_t> bytes;
  Elf64_Ehdr eh{};
  std::vector<Elf64_Phdr> ph;
  struct Note {
    std::string name;
    uint32_t type;
    std::vector<uint8_t> desc;
  };
  std::vector<Note> notes;
};

Core parse(const std::string& path) {
  Core c;
  c.bytes = testing::read_file(path);
  EXPECT_GE(c.bytes.size(), sizeof(Elf64_Ehdr));
  std::memcpy(&c.eh, c.bytes.data(), sizeof(c.eh));
  for (size_t i = 0; i < c.eh.e_phnum; ++i) {
    Elf64_Phdr p;
    std::memcpy(&p, c.bytes.data() + c.eh.e_phoff + i * sizeof(p), sizeof(p));
    c.ph.push_back(p);
  }
  for (auto& p : c.ph) {
    if (p.p_type != PT_NOTE) continue;
    for (uint64_t off = p.p_offset; off < p.p_offset + p.p_filesz;) {
      Elf64_Nhdr n;
      std::memcpy(&n, c.bytes.data() + off, sizeof(n));
      off += sizeof(n);
      std::string name(reinterpret_cast<const char*>(c.bytes.data() + off), n.n_namesz ? n.n_namesz - 1 : 0);
      off += (n.n_namesz + 3) & ~3u;
      std::vector<uint8_t> desc(c.bytes.begin() + static_cast<long>(off),
                                c.bytes.begin() + static_cast<long>(off + n.n_descsz));
      off += (n.n_descsz + 3) & ~3u;
      c.notes.push_back({name, n.n_type, desc});
    }
  }
  return c;
}

uint64_t u64_at(const std::vector<uint8_t>& v, size_t off) {
  uint64_t x;
  std::memcpy(&x, v.data() + off, 8);
  return x;
}
uint32_t u32_at(const std::vector<uint8_t>& v, size_t off) {
  uint32_t x;
  std::memcpy(&x, v.data() + off, 4);
  return x;
}

// user_regs_struct offsets inside elf_prstatus (pr_reg at 112).
constexpr size_t kPrPid = 32, kPrReg = 112;
constexpr size_t kRegR15 = 0, kRegRax = 10 * 8, kRegRip = 16 * 8, kRegCs = 17 * 8, kRegEflags = 18 * 8,
                 kRegRsp = 19 * 8, kRegFsBase = 21 * 8, kRegGsBase = 22 * 8;

bool is_hole(int fd, uint64_t off) {
  off_t d = ::lseek(fd, static_cast<off_t>(off), SEEK_DATA);
  return d < 0 ? errno == ENXIO : static_cast<uint64_t>(d) > off;
}

void check_core(Fixture& f, const std::string& core_path, const ElfCoreStats& st) {
  Core c = parse(core_path);
  EXPECT_EQ(std::memcmp(c.eh.e_ident, ELFMAG, SELFMAG), 0);
  EXPECT_EQ(c.eh.e_ident[EI_CLASS], ELFCLASS64);
  EXPECT_EQ(c.eh.e_ident[EI_DATA], ELFDATA2LSB);
  EXPECT_EQ(c.eh.e_type, ET_CORE);
  EXPECT_EQ(c.eh.e_machine, EM_X86_64);
  EXPECT_EQ(c.eh.e_phentsize, sizeof(Elf64_Phdr));
  ASSERT_EQ(c.ph.size(), 3u);
  EXPECT_EQ(c.ph[0].p_type, PT_NOTE);

  // One PT_LOAD per region, at its guest-physical address, page aligned.
  struct Want {
    uint64_t gpa;
    const Mapping& ram;
  } want[] = {{0, f.low}, {kHighGpa, f.high}};
  for (size_t i = 0; i < 2; ++i) {
    auto& p = c.ph[1 + i];
    EXPECT_EQ(p.p_type, PT_LOAD);
    EXPECT_EQ(p.p_paddr, want[i].gpa);
    EXPECT_EQ(p.p_vaddr, want[i].gpa);
    EXPECT_EQ(p.p_filesz, want[i].ram.size());
    EXPECT_EQ(p.p_memsz, want[i].ram.size());
    EXPECT_EQ(p.p_offset % 4096, 0u);
    ASSERT_LE(p.p_offset + p.p_filesz, c.bytes.size());
    EXPECT_EQ(std::memcmp(c.bytes.data() + p.p_offset, want[i].ram.data(), want[i].ram.size()), 0) << "region " << i;
  }
  EXPECT_EQ(c.bytes.size(), c.ph[2].p_offset + c.ph[2].p_filesz);
  EXPECT_EQ(st.file_size, c.bytes.size());
  EXPECT_EQ(st.ram_bytes, 80u * 4096);
  EXPECT_EQ(st.data_bytes, 5u * 4096);
  EXPECT_EQ(st.vcpus, 2u);
  EXPECT_EQ(st.loads, 2u);

  // Zero pages are holes: low region pages other than 0-2, 10, 63, and the whole high region.
  UniqueFd fd(::open(core_path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd);
  for (size_t page = 0; page < 64; ++page) {
    bool data = page <= 2 || page == 10 || page == 63;
    EXPECT_EQ(is_hole(fd.get(), c.ph[1].p_offset + page * 4096), !data) << "low page " << page;
  }
  for (size_t page = 0; page < 16; ++page) EXPECT_TRUE(is_hole(fd.get(), c.ph[2].p_offset + page * 4096));
  struct stat sb {};
  ASSERT_EQ(::fstat(fd.get(), &sb), 0);
  // Header page + 5 data pages; allow file systems a little slack, far
  // below the 81 pages a non-sparse file takes.
  EXPECT_LE(static_cast<uint64_t>(sb.st_blocks) * 512, 8u * 4096);
  EXPECT_EQ(st.allocated_bytes, static_cast<uint64_t>(sb.st_blocks) * 512);

  // Notes: NT_PRSTATUS and NT_FPREGSET per vCPU, then a QEMU CPU state per vCPU.
  ASSERT_EQ(c.notes.size(), 6u);
  struct {
    uint64_t rip, rsp, cr3;
  } regs[] = {{0x100a2c, 0x8ff0, 0x1000}, {0x100b00, 0x7ff0, 0x2000}};
  for (uint32_t i = 0; i < 2; ++i) {
    auto& n = c.notes[2 * i];
    auto& fp = c.notes[2 * i + 1];
    EXPECT_EQ(fp.name, "CORE");
    EXPECT_EQ(fp.type, uint32_t{NT_FPREGSET});
    ASSERT_EQ(fp.desc.size(), 512u);
    EXPECT_EQ(u32_at(fp.desc, 24), 0x1f80u);
    EXPECT_EQ(fp.desc[160], 0x10 + (regs[i].rip & 0xf));
    EXPECT_EQ(n.name, "CORE");
    EXPECT_EQ(n.type, uint32_t{NT_PRSTATUS});
    ASSERT_EQ(n.desc.size(), 336u);
    EXPECT_EQ(u32_at(n.desc, kPrPid), i + 1);
    EXPECT_EQ(u64_at(n.desc, kPrReg + kRegRip), regs[i].rip);
    EXPECT_EQ(u64_at(n.desc, kPrReg + kRegRsp), regs[i].rsp);
    EXPECT_EQ(u64_at(n.desc, kPrReg + kRegRax), 0x1111u);
    EXPECT_EQ(u64_at(n.desc, kPrReg + kRegR15), 0xf15u);
    EXPECT_EQ(u64_at(n.desc, kPrReg + kRegEflags), 0x246u);
    EXPECT_EQ(u64_at(n.desc, kPrReg + kRegCs), 0x10u);
    EXPECT_EQ(u64_at(n.desc, kPrReg + kRegFsBase), 0x7000u);
    EXPECT_EQ(u64_at(n.desc, kPrReg + kRegGsBase), 0x9000u);

    auto& q = c.notes[4 + i];
    EXPECT_EQ(q.name, "QEMU");
    ASSERT_EQ(q.desc.size(), 440u);
    EXPECT_EQ(u32_at(q.desc, 0), 1u);    // version
    EXPECT_EQ(u32_at(q.desc, 4), 440u);  // size
    EXPECT_EQ(u64_at(q.desc, 8 + 16 * 8), regs[i].rip);
    // cs: selector, limit, flags (type 0xb, S, P, L)
    size_t cs = 8 + 18 * 8;
    EXPECT_EQ(u32_at(q.desc, cs), 0x10u);
    EXPECT_EQ(u32_at(q.desc, cs + 8), 0xbu << 8 | 1u << 12 | 1u << 15 | 1u << 21);
    size_t idt = cs + 9 * 24, cr = cs + 10 * 24;
    EXPECT_EQ(u64_at(q.desc, idt + 16), 0xabc000u);
    EXPECT_EQ(u32_at(q.desc, idt + 4), 0xfffu);
    EXPECT_EQ(u64_at(q.desc, cr + 0 * 8), 0x80000033u);
    EXPECT_EQ(u64_at(q.desc, cr + 3 * 8), regs[i].cr3);
    EXPECT_EQ(u64_at(q.desc, cr + 5 * 8), 0xffff888000001234ull);  // KERNEL_GS_BASE
  }
}

TEST(ElfCore, RawImage) {
  Fixture f;
  auto img = Image::open(f.image(false));
  auto st = write_elf_core(img, f.dir.file("vm.core"), {.sync = false});
  check_core(f, f.dir.file("vm.core"), st);
}

TEST(ElfCore, CompressedImageKeepsZeroPagesInStoredChunksAsHoles) {
  Fixture f;
  auto img = Image::open(f.image(true));
  ASSERT_TRUE(img.ram_regions()[0].compressed());
  ASSERT_EQ(img.ram_regions()[0].chunks.size(), 1u);  // one chunk holding data and zero pages
  auto st = write_elf_core(img, f.dir.file("z.core"), {.sync = false});
  check_core(f, f.dir.file("z.core"), st);
}

// vCPU 0's page tables (CR3 0x1000 in the fixture) map kernel text at
// 0xffffffff81000000 to RAM page 10: the core has a PT_LOAD there whose
// bytes are that page's, as QEMU's dump-guest-memory with paging gives.
TEST(ElfCore, KernelVirtualMappingsGetTheirOwnLoadsOverTheSameBytes) {
  Fixture f;
  auto put = [&](uint64_t gpa, uint64_t v) { std::memcpy(f.low.data() + gpa, &v, 8); };
  std::memset(f.low.data() + 0x1000, 0, 3 * 4096);  // pages 1-2 become the tables
  put(0x1000 + 511 * 8, 0x2000 | 1);            // PML4[511] -> PDPT
  put(0x2000 + 510 * 8, 0x3000 | 1);            // PDPT[510] -> PD at page 3
  f.low.data()[0x3000 + 8 * 8] = 0;             // keep page 3 zero but for one entry:
  put(0x3000 + 8 * 8, 0x4000 | 1);              // PD[8] -> PT at page 4 (0xffffffff81000000)
  f.low.data()[0x4000] = 0;
  put(0x4000, 0xa000 | 1);                      // PT[0] -> page 10
  put(0x4000 + 8, 0xb000 | 1);                  // PT[1] -> page 11: one run of two pages
  for (bool compress : {false, true}) {
    auto img = Image::open(f.image(compress));
    auto path = f.dir.file(compress ? "kz.core" : "k.core");
    auto st = write_elf_core(img, path, {.sync = false});
    EXPECT_EQ(st.kernel_loads, 1u);
    auto c = parse(path);
    const Elf64_Phdr* k = nullptr;
    for (auto& p : c.ph)
      if (p.p_type == PT_LOAD && p.p_vaddr == 0xffffffff81000000ull) k = &p;
    ASSERT_NE(k, nullptr) << "no PT_LOAD at the kernel text address";
    EXPECT_EQ(k->p_paddr, 0xa000u);
    EXPECT_EQ(k->p_filesz, 0x2000u);
    ASSERT_LE(k->p_offset + k->p_filesz, c.bytes.size());
    EXPECT_EQ(std::memcmp(c.bytes.data() + k->p_offset, f.low.data() + 0xa000, 0x2000), 0);
    auto no = write_elf_core(img, f.dir.file("plain.core"), {.sync = false, .kernel_mappings = false});
    EXPECT_EQ(no.kernel_loads, 0u);
  }
}

TEST(ElfCore, ReadRamReadsAnyRangeOfRawAndCompressedRegions) {
  Fixture f;
  for (bool compress : {false, true}) {
    auto img = Image::open(f.image(compress));
    // Straddles a hole and part of run 0 (pages 0-2) and of page 10.
    std::vector<uint8_t> got(9 * 4096 - 100);
    img.read_ram(0, 2 * 4096 + 100, got);
    EXPECT_EQ(std::memcmp(got.data(), f.low.data() + 2 * 4096 + 100, got.size()), 0) << compress;
    EXPECT_THROW(img.read_ram(0, 63 * 4096 + 1, std::span<uint8_t>(got).first(4096)), Error);
    EXPECT_THROW(img.read_ram(2, 0, std::span<uint8_t>(got).first(1)), Error);
  }
}

TEST(ElfCore, VcpusAreOrderedByIndexNotByName) {
  StateNode m;
  for (int i = 0; i < 12; ++i) m.children["vcpus"].children[fmt::format("vcpu@{}", i)] = vcpu_node(0x1000 + i, 0, 0);
  auto v = saved_vcpus(m);
  ASSERT_EQ(v.size(), 12u);
  for (uint32_t i = 0; i < 12; ++i) EXPECT_EQ(u64_at(elf_prstatus(*v[i], i), kPrReg + kRegRip), 0x1000u + i);
  m.children["vcpus"].children.erase("vcpu@5");
  EXPECT_THROW(saved_vcpus(m), Error);
  EXPECT_THROW(saved_vcpus(StateNode{}), Error);
}

// The error text of `fn`, or "" when it does not throw amber::Error.
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool only_file_is(const TempDir& d, const std::string& name) {
  size_t n = 0;
  for (auto& e : std::filesystem::directory_iterator(d.path())) {
    if (e.path().filename() != name) return false;
    ++n;
  }
  return n == 1;
}

TEST(ElfCore, ACorruptRunFailsAndLeavesNoFile) {
  Fixture f;
  auto path = f.image(false);
  TempDir out;
  {
    auto img = Image::open(path);
    testing::flip_byte(path, img.ram_regions()[0].file_offset + 10 * 4096 + 5);  // page 10's run
  }
  auto img = Image::open(path);  // metadata intact: opens
  auto err = error_of([&] { write_elf_core(img, out.file("vm.core"), {.sync = false}); });
  EXPECT_NE(err.find("RAM region 0 run 1"), std::string::npos) << err;
  EXPECT_NE(err.find("checksum mismatch"), std::string::npos) << err;
  EXPECT_TRUE(std::filesystem::is_empty(out.path()));
}

TEST(ElfCore, ACorruptFrameFailsAndKeepsThePreviousFile) {
  Fixture f;
  auto path = f.image(true);
  TempDir out;
  testing::write_bytes_new(out.file("vm.core"), {'o', 'l', 'd'});
  {
    auto img = Image::open(path);
    auto& r = img.ram_regions()[0];
    testing::flip_byte(path, r.file_offset + r.chunks[0].frame_offset + 20);
  }
  auto img = Image::open(path);
  auto err = error_of([&] { write_elf_core(img, out.file("vm.core"), {.sync = false}); });
  EXPECT_NE(err.find("chunk 0"), std::string::npos) << err;
  EXPECT_EQ(testing::read_file(out.file("vm.core")), (std::vector<uint8_t>{'o', 'l', 'd'}));
  EXPECT_TRUE(only_file_is(out, "vm.core"));
}

TEST(ElfCore, VcpuWithoutRegistersIsRefusedBeforeAnyFile) {
  Fixture f;
  f.in.machine.children["vcpus"].children["vcpu@1"].props.erase("regs");
  auto img = Image::open(f.image(false));
  auto err = error_of([&] { write_elf_core(img, f.dir.file("vm.core"), {.sync = false}); });
  EXPECT_NE(err.find("vcpu@1: no saved registers"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(f.dir.file("vm.core")));

  f.in.machine.children["vcpus"].children["vcpu@1"].props["regs"] = std::vector<uint8_t>(100);
  img = Image::open(f.image(false));
  err = error_of([&] { write_elf_core(img, f.dir.file("vm.core"), {.sync = false}); });
  EXPECT_NE(err.find("vcpu@1: saved 'regs' has 100 bytes, not 144"), std::string::npos) << err;
}

TEST(ElfCore, UnwritableOutputAndTheImageItselfAreRefused) {
  Fixture f;
  auto path = f.image(false);
  auto img = Image::open(path);
  auto err = error_of([&] { write_elf_core(img, f.dir.file("no/such/dir/vm.core"), {.sync = false}); });
  EXPECT_NE(err.find("no/such/dir/vm.core"), std::string::npos) << err;
  err = error_of([&] { write_elf_core(img, path, {.sync = false}); });
  EXPECT_NE(err.find("is the image itself"), std::string::npos) << err;
  EXPECT_TRUE(Image::open(path).verify().ok);
}

// ------------------------------------------------------------ real gdb

// Runs `cmd` through the shell; its stdout and stderr, and the exit status.
std::pair<std::string, int> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {"popen failed", -1};
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  int status = ::pclose(p);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

constexpr const char* kGdb = "/usr/bin/gdb";

TEST(ElfCoreGdb, GdbShowsTheSavedRegistersMemoryAndOneThreadPerVcpu) {
  if (::access(kGdb, X_OK) != 0) GTEST_SKIP() << "!!! " << kGdb << " is missing: tools/setup.sh installs gdb";
  Fixture f;
  for (bool compress : {false, true}) {
    auto img = Image::open(f.image(compress));
    auto core = f.dir.file(compress ? "z.core" : "vm.core");
    write_elf_core(img, core, {.sync = false});
    // Page 10 at guest address 0xa000 holds p*31 + b*7 + 1: 0x37 0x3e 0x45 0x4c.
    auto [out, rc] = run(fmt::format("{} -batch -nx -ex 'info registers rip' -ex 'x/4xb 0xa000' "
                                     "-ex 'x/2xb 0x4000' -ex 'info threads' -ex 'thread 2' -ex 'info registers rip rsp' "
                                     "-ex 'p/x $xmm0.uint128' -ex 'p/x $mxcsr' "
                                     "-c {}",
                                     kGdb, core));
    SCOPED_TRACE(out);
    EXPECT_EQ(rc, 0);
    EXPECT_NE(out.find("rip            0x100a2c"), std::string::npos);
    EXPECT_NE(out.find("0xa000:\t0x37\t0x3e\t0x45\t0x4c"), std::string::npos);
    EXPECT_NE(out.find("0x4000:\t0x00\t0x00"), std::string::npos);  // a hole reads as zeros
    EXPECT_NE(out.find("LWP 1"), std::string::npos);
    EXPECT_NE(out.find("LWP 2"), std::string::npos);
    EXPECT_NE(out.find("rip            0x100b00"), std::string::npos);
    EXPECT_NE(out.find("rsp            0x7ff0"), std::string::npos);
    // vCPU 1's XMM0 bytes are 0x10..0x1f (little-endian), from its saved xsave.
    EXPECT_NE(out.find("= 0x1f1e1d1c1b1a19181716151413121110"), std::string::npos);
    EXPECT_NE(out.find("= 0x1f80"), std::string::npos);
  }
}

}  // namespace
}  // namespace amber::image
