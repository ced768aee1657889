#pragma once
// Synthetic kernels and guest memory for the firmware unit tests.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "amber/guest_memory.h"
#include "amber/mapping.h"
#include "firmware/boot_params.h"
#include "firmware/elf64.h"
#include "firmware/memory_map.h"

namespace amber::x86::testing {

// Guest RAM laid out by ram_layout(), backed by lazily allocated mappings.
struct TestVm {
  explicit TestVm(uint64_t bytes) : mem_bytes(bytes) {
    for (const RamRange& r : ram_layout(bytes)) mem.add_region(r.gpa, Mapping::anonymous(r.size));
  }
  GuestMemory mem;
  uint64_t mem_bytes;
};

template <class T>
void put(std::vector<uint8_t>& buf, uint64_t off, const T& v) {
  if (buf.size() < off + sizeof v) buf.resize(off + sizeof v);
  std::memcpy(buf.data() + off, &v, sizeof v);
}
template <class T>
T get(const std::vector<uint8_t>& buf, uint64_t off) {
  T v;
  std::memcpy(&v, buf.data() + off, sizeof v);
  return v;
}

inline constexpr uint64_t kTestKernelBytes = 8192;

// A minimal protocol 2.15 bzImage: 4 setup sectors after the boot sector,
// then kTestKernelBytes of protected-mode "code" (a byte pattern).
inline std::vector<uint8_t> make_bzimage(uint64_t kernel_bytes = kTestKernelBytes) {
  std::vector<uint8_t> f(5 * 512 + kernel_bytes, 0);
  SetupHeader h{};
  h.setup_sects = 4;
  h.syssize = static_cast<uint32_t>((kernel_bytes + 15) / 16);
  h.vid_mode = 0xffff;
  h.boot_flag = 0xaa55;
  h.jump = static_cast<uint16_t>(0xeb | ((0x26c - 0x202) << 8));  // jmp past the header
  h.header = kHdrSMagic;
  h.version = 0x020f;
  h.loadflags = kLoadedHigh;
  h.code32_start = 0x100000;
  h.initrd_addr_max = 0x7fffffff;
  h.kernel_alignment = 0x200000;
  h.relocatable_kernel = 1;
  h.xloadflags = kXlfKernel64 | kXlfCanBeLoadedAbove4g;
  h.cmdline_size = 2047;
  h.pref_address = 0x1000000;
  h.init_size = 0x800000;
  put(f, kSetupHeaderOffset, h);
  for (uint64_t i = 0; i < kernel_bytes; ++i) f[5 * 512 + i] = static_cast<uint8_t>(i * 7 + 1);
  return f;
}

inline SetupHeader header_of(const std::vector<uint8_t>& f) { return get<SetupHeader>(f, kSetupHeaderOffset); }
inline void set_header(std::vector<uint8_t>& f, const SetupHeader& h) { put(f, kSetupHeaderOffset, h); }

// A minimal PVH vmlinux: one PT_LOAD (filesz 0x1000, memsz 0x3000 at
// kPvhLoadAddr) and one PT_NOTE holding a GNU note and, when `entry_note`,
// the Xen PHYS32_ENTRY note with a `desc_bytes`-byte descriptor.
inline constexpr uint64_t kPvhLoadAddr = 0x1000000;
inline constexpr uint64_t kPvhEntry = 0x1000680;
inline constexpr uint64_t kPvhFileSz = 0x1000, kPvhMemSz = 0x3000;

inline void add_note(std::vector<uint8_t>& notes, const std::string& name, uint32_t type,
                     const std::vector<uint8_t>& desc) {
  Elf64Nhdr n{static_cast<uint32_t>(name.size() + 1), static_cast<uint32_t>(desc.size()), type};
  put(notes, notes.size(), n);
  notes.insert(notes.end(), name.begin(), name.end());
  notes.push_back(0);
  while (notes.size() % 4) notes.push_back(0);
  notes.insert(notes.end(), desc.begin(), desc.end());
  while (notes.size() % 4) notes.push_back(0);
}

inline std::vector<uint8_t> make_pvh_elf(bool entry_note = true, uint32_t desc_bytes = 8, uint64_t entry = kPvhEntry) {
  std::vector<uint8_t> notes;
  add_note(notes, "GNU", 3, std::vector<uint8_t>(20, 0x11));  // a build-id, to be skipped
  if (entry_note) {
    std::vector<uint8_t> desc(desc_bytes);
    std::memcpy(desc.data(), &entry, std::min<size_t>(desc_bytes, 8));
    add_note(notes, "Xen", kXenElfnotePhys32Entry, desc);
  }
  const uint64_t phoff = sizeof(Elf64Ehdr), notes_off = 0x200, load_off = 0x1000;
  std::vector<uint8_t> f(load_off + kPvhFileSz, 0);
  Elf64Ehdr eh{};
  std::memcpy(eh.e_ident, kElfMagic, 4);
  eh.e_ident[4] = kElfClass64;
  eh.e_ident[5] = kElfData2Lsb;
  eh.e_ident[6] = 1;
  eh.e_type = 2;  // ET_EXEC
  eh.e_machine = kEmX86_64;
  eh.e_version = 1;
  eh.e_entry = 0xffffffff81000000;
  eh.e_phoff = phoff;
  eh.e_ehsize = sizeof eh;
  eh.e_phentsize = sizeof(Elf64Phdr);
  eh.e_phnum = 2;
  put(f, 0, eh);
  Elf64Phdr load{kPtLoad, 5, load_off, 0xffffffff81000000, kPvhLoadAddr, kPvhFileSz, kPvhMemSz, 0x200000};
  Elf64Phdr note{kPtNote, 4, notes_off, 0, 0, notes.size(), notes.size(), 4};
  put(f, phoff, load);
  put(f, phoff + sizeof load, note);
  std::memcpy(f.data() + notes_off, notes.data(), notes.size());
  for (uint64_t i = 0; i < kPvhFileSz; ++i) f[load_off + i] = static_cast<uint8_t>(i * 13 + 5);
  return f;
}

inline Elf64Phdr phdr_of(const std::vector<uint8_t>& f, int i) {
  return get<Elf64Phdr>(f, sizeof(Elf64Ehdr) + i * sizeof(Elf64Phdr));
}
inline void set_phdr(std::vector<uint8_t>& f, int i, const Elf64Phdr& p) {
  put(f, sizeof(Elf64Ehdr) + i * sizeof(Elf64Phdr), p);
}

// Reads `n` bytes of guest memory.
inline std::vector<uint8_t> guest_bytes(const GuestMemory& mem, uint64_t gpa, uint64_t n) {
  std::vector<uint8_t> out(n);
  mem.read(gpa, out);
  return out;
}

}  // namespace amber::x86::testing
