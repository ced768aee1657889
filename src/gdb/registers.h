#pragma once
// The x86-64 register file as gdb's remote protocol numbers it, and the
// target description (gdb manual, "Target Descriptions" and "Standard
// Target Features": org.gnu.gdb.i386.core/.sse/.segments) that tells gdb
// so. Control registers and KERNEL_GS_BASE come in amber's own feature,
// org.amber.x86.sys; gdb shows them under `info registers system`.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hv/debug_regs.h"

namespace amber::gdb {

// Remote register numbers: 0-15 GPRs, 16 rip, 17 eflags, 18-23 segment
// selectors, 24-31 st0-7, 32-39 x87 control, 40-55 xmm0-15, 56 mxcsr,
// 57 fs_base, 58 gs_base, 59 k_gs_base, 60-65 cr0 cr2 cr3 cr4 cr8 efer.
inline constexpr int kRegRip = 16;
inline constexpr int kNumRegs = 66;

struct RegInfo {
  const char* name;
  uint16_t bits;
  const char* type;
  const char* group;  // nullptr: gdb's default
};
const RegInfo& reg_info(int regnum);

// Little-endian bytes of one register (bits/8 of them).
std::vector<uint8_t> reg_bytes(const hv::DebugRegs& r, int regnum);
// False when the size does not match the register's.
bool set_reg_bytes(hv::DebugRegs& r, int regnum, std::span<const uint8_t> bytes);

// The 'g' packet's payload: every register, in number order, as hex.
std::string encode_registers(const hv::DebugRegs& r);
// 'G': the same layout back; false (and `r` unchanged) on a wrong length
// or a non-hex digit.
bool decode_registers(hv::DebugRegs& r, std::string_view hex);

// target.xml, as qXfer:features:read serves it.
const std::string& target_xml();

}  // namespace amber::gdb
