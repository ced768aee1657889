#pragma once
// The guest physical and I/O address layout of an amber x86-64 VM, in one
// place (Firecracker's arch/x86_64/layout.rs is the model).
#include <cstdint>

namespace amber::layout {

// ---- Low memory (below 1 MiB) -------------------------------------------
inline constexpr uint64_t kGdtAddr = 0x500;          // boot GDT (4 entries)
inline constexpr uint64_t kIdtAddr = 0x520;          // empty boot IDT
inline constexpr uint64_t kPvhStartInfo = 0x6000;    // hvm_start_info + memmap (PVH boot)
inline constexpr uint64_t kZeroPage = 0x7000;        // struct boot_params (Linux boot protocol)
inline constexpr uint64_t kBootStackTop = 0x8ff0;    // initial RSP
inline constexpr uint64_t kPml4Addr = 0x9000;        // identity page tables: PML4
inline constexpr uint64_t kPdptAddr = 0xa000;        //   PDPT
inline constexpr uint64_t kPdAddr = 0xb000;          //   4 PDs of 2 MiB pages (0xb000-0xefff) = 4 GiB
inline constexpr uint64_t kMultibootInfo = 0x10000;  // multiboot information, mmap, modules, strings (64 KiB)
inline constexpr uint64_t kCmdlineAddr = 0x20000;    // kernel command line
inline constexpr uint64_t kCmdlineMax = 4096;
inline constexpr uint64_t kMpTableAddr = 0x9fc00;    // MP floating pointer + table (in the EBDA)
inline constexpr uint64_t kEbdaStart = 0x9fc00;      // e820: RAM ends here, reserved up to 1 MiB
inline constexpr uint64_t kHighMemStart = 0x100000;  // 1 MiB: kernel load address

// ---- The 32-bit MMIO hole ------------------------------------------------
// RAM is split around [kMmioHoleStart, 4 GiB); RAM beyond goes above 4 GiB.
inline constexpr uint64_t kMmioHoleStart = 0xc000'0000;
inline constexpr uint64_t kMmioHoleEnd = 0x1'0000'0000;
inline constexpr uint64_t kVirtioMmioBase = 0xd000'0000;  // virtio-mmio windows
inline constexpr uint64_t kVirtioMmioSize = 0x1000;       // one 4 KiB window per device
inline constexpr uint32_t kVirtioFirstIrq = 5;            // GSI of the first virtio device
inline constexpr uint64_t kIoapicAddr = 0xfec0'0000;
inline constexpr uint64_t kLapicAddr = 0xfee0'0000;

// ---- Port I/O ------------------------------------------------------------
inline constexpr uint16_t kCom1Port = 0x3f8;
inline constexpr uint32_t kCom1Irq = 4;
inline constexpr uint16_t kI8042Port = 0x60;     // 0x60-0x64 (data, status/command at 0x64)
inline constexpr uint16_t kCmosPort = 0x70;      // 0x70 index, 0x71 data
inline constexpr uint16_t kPostPort = 0x80;      // POST code port: ignored
inline constexpr uint16_t kAmberCtlPort = 0x5a0; // guest -> VMM requests (save); docs/api.md
// Where the control port was before it left QEMU's fw_cfg range. An image
// without a "ctl_port" config property was saved with it there, and a VM
// resumed from it keeps it there (its guest may ring it again).
inline constexpr uint16_t kAmberCtlPortLegacy = 0x510;
// QEMU's x86 fw_cfg: selector 0x510, data 0x511, DMA address 0x514-0x51b.
// amber has none; reads there answer all ones ("no fw_cfg"; docs/api.md).
inline constexpr uint16_t kFwCfgPort = 0x510;
inline constexpr uint16_t kFwCfgSize = 12;
// --debug-exit's default window (QEMU's isa-debug-exit as test kernels place
// it: iobase=0xf4, iosize=4).
inline constexpr uint16_t kDebugExitPort = 0xf4;
inline constexpr uint16_t kDebugExitSize = 4;

// Bare-metal test guests (guest-tests/bare) are loaded and entered here.
inline constexpr uint64_t kBareLoadAddr = kHighMemStart;

}  // namespace amber::layout
