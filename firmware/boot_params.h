#pragma once
// The Linux x86 boot protocol structures, written from
// Documentation/arch/x86/boot.rst ("The real-mode kernel header") and
// Documentation/arch/x86/zero-page.rst. Only the fields amber uses are
// named; the rest are byte arrays at their documented offsets.
#include <cstddef>
#include <cstdint>

namespace amber::x86 {

// boot.rst: the setup header lives at offset 0x1f1 of both the bzImage file
// and struct boot_params.
inline constexpr size_t kSetupHeaderOffset = 0x1f1;
inline constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS" at 0x202
inline constexpr uint16_t kBootFlag = 0xaa55;       // at 0x1fe

// loadflags (boot.rst, offset 0x211).
inline constexpr uint8_t kLoadedHigh = 0x01;   // protected-mode code at 0x100000
inline constexpr uint8_t kKeepSegments = 0x40;
inline constexpr uint8_t kCanUseHeap = 0x80;   // heap_end_ptr is valid
// xloadflags (boot.rst, offset 0x236, protocol 2.12+).
inline constexpr uint16_t kXlfKernel64 = 0x01;  // 64-bit entry at load address + 0x200
inline constexpr uint16_t kXlfCanBeLoadedAbove4g = 0x02;

inline constexpr uint8_t kLoaderTypeUndefined = 0xff;  // boot.rst: "0xFF = undefined"
inline constexpr size_t kE820MaxEntriesZeroPage = 128;

#pragma pack(push, 1)
struct SetupHeader {
  uint8_t setup_sects;        // 0x1f1
  uint16_t root_flags;        // 0x1f2
  uint32_t syssize;           // 0x1f4  16-byte paragraphs (32-bit since 2.04)
  uint16_t ram_size;          // 0x1f8
  uint16_t vid_mode;          // 0x1fa
  uint16_t root_dev;          // 0x1fc
  uint16_t boot_flag;         // 0x1fe
  uint16_t jump;              // 0x200
  uint32_t header;            // 0x202  "HdrS"
  uint16_t version;           // 0x206
  uint32_t realmode_swtch;    // 0x208
  uint16_t start_sys_seg;     // 0x20c
  uint16_t kernel_version;    // 0x20e
  uint8_t type_of_loader;     // 0x210
  uint8_t loadflags;          // 0x211
  uint16_t setup_move_size;   // 0x212
  uint32_t code32_start;      // 0x214
  uint32_t ramdisk_image;     // 0x218
  uint32_t ramdisk_size;      // 0x21c
  uint32_t bootsect_kludge;   // 0x220
  uint16_t heap_end_ptr;      // 0x224
  uint8_t ext_loader_ver;     // 0x226
  uint8_t ext_loader_type;    // 0x227
  uint32_t cmd_line_ptr;      // 0x228
  uint32_t initrd_addr_max;   // 0x22c
  uint32_t kernel_alignment;  // 0x230  2.05+
  uint8_t relocatable_kernel; // 0x234
  uint8_t min_alignment;      // 0x235  2.10+
  uint16_t xloadflags;        // 0x236  2.12+
  uint32_t cmdline_size;      // 0x238  2.06+
  uint32_t hardware_subarch;  // 0x23c
  uint64_t hardware_subarch_data;  // 0x240
  uint32_t payload_offset;    // 0x248  2.08+
  uint32_t payload_length;    // 0x24c
  uint64_t setup_data;        // 0x250  2.09+
  uint64_t pref_address;      // 0x258  2.10+
  uint32_t init_size;         // 0x260  2.10+
  uint32_t handover_offset;   // 0x264  2.11+
  uint32_t kernel_info_offset;  // 0x268  2.15+
};

// zero-page.rst: struct boot_e820_entry.
struct BootE820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
};

// zero-page.rst: struct boot_params, 4096 bytes.
struct BootParams {
  uint8_t pad_0000[0xc0];       // screen_info, apm_bios_info, tboot, ist, acpi_rsdp, ...
  uint32_t ext_ramdisk_image;   // 0x0c0
  uint32_t ext_ramdisk_size;    // 0x0c4
  uint32_t ext_cmd_line_ptr;    // 0x0c8
  uint8_t pad_00cc[0x1e8 - 0xcc];
  uint8_t e820_entries;         // 0x1e8
  uint8_t pad_01e9[0x1ef - 0x1e9];
  uint8_t sentinel;             // 0x1ef  must stay 0 (else the kernel wipes fields)
  uint8_t pad_01f0;
  SetupHeader hdr;              // 0x1f1
  uint8_t pad_026c[0x2d0 - 0x26c];  // rest of hdr area, edd_mbr_sig_buffer
  BootE820Entry e820_table[kE820MaxEntriesZeroPage];  // 0x2d0
  uint8_t pad_0cd0[0x1000 - 0xcd0];  // eddbuf and padding
};
#pragma pack(pop)

static_assert(sizeof(SetupHeader) == 0x26c - 0x1f1);
static_assert(offsetof(SetupHeader, header) == 0x202 - 0x1f1);
static_assert(offsetof(SetupHeader, version) == 0x206 - 0x1f1);
static_assert(offsetof(SetupHeader, loadflags) == 0x211 - 0x1f1);
static_assert(offsetof(SetupHeader, heap_end_ptr) == 0x224 - 0x1f1);
static_assert(offsetof(SetupHeader, cmd_line_ptr) == 0x228 - 0x1f1);
static_assert(offsetof(SetupHeader, xloadflags) == 0x236 - 0x1f1);
static_assert(offsetof(SetupHeader, cmdline_size) == 0x238 - 0x1f1);
static_assert(offsetof(SetupHeader, pref_address) == 0x258 - 0x1f1);
static_assert(offsetof(SetupHeader, init_size) == 0x260 - 0x1f1);
static_assert(sizeof(BootE820Entry) == 20);
static_assert(sizeof(BootParams) == 0x1000);
static_assert(offsetof(BootParams, ext_ramdisk_image) == 0x0c0);
static_assert(offsetof(BootParams, ext_cmd_line_ptr) == 0x0c8);
static_assert(offsetof(BootParams, e820_entries) == 0x1e8);
static_assert(offsetof(BootParams, sentinel) == 0x1ef);
static_assert(offsetof(BootParams, hdr) == kSetupHeaderOffset);
static_assert(offsetof(BootParams, e820_table) == 0x2d0);

}  // namespace amber::x86
