#include "gdb/registers.h"

#include <array>
#include <cstring>

#include <fmt/core.h>

#include "gdb/rsp.h"

namespace amber::gdb {
namespace {

const std::array<RegInfo, kNumRegs> kRegs = {{
    {"rax", 64, "int64", nullptr},     {"rbx", 64, "int64", nullptr},     {"rcx", 64, "int64", nullptr},
    {"rdx", 64, "int64", nullptr},     {"rsi", 64, "int64", nullptr},     {"rdi", 64, "int64", nullptr},
    {"rbp", 64, "data_ptr", nullptr},  {"rsp", 64, "data_ptr", nullptr},  {"r8", 64, "int64", nullptr},
    {"r9", 64, "int64", nullptr},      {"r10", 64, "int64", nullptr},     {"r11", 64, "int64", nullptr},
    {"r12", 64, "int64", nullptr},     {"r13", 64, "int64", nullptr},     {"r14", 64, "int64", nullptr},
    {"r15", 64, "int64", nullptr},     {"rip", 64, "code_ptr", nullptr},  {"eflags", 32, "i386_eflags", nullptr},
    {"cs", 32, "int32", nullptr},      {"ss", 32, "int32", nullptr},      {"ds", 32, "int32", nullptr},
    {"es", 32, "int32", nullptr},      {"fs", 32, "int32", nullptr},      {"gs", 32, "int32", nullptr},
    {"st0", 80, "i387_ext", nullptr},  {"st1", 80, "i387_ext", nullptr},  {"st2", 80, "i387_ext", nullptr},
    {"st3", 80, "i387_ext", nullptr},  {"st4", 80, "i387_ext", nullptr},  {"st5", 80, "i387_ext", nullptr},
    {"st6", 80, "i387_ext", nullptr},  {"st7", 80, "i387_ext", nullptr},  {"fctrl", 32, "int", "float"},
    {"fstat", 32, "int", "float"},     {"ftag", 32, "int", "float"},      {"fiseg", 32, "int", "float"},
    {"fioff", 32, "int", "float"},     {"foseg", 32, "int", "float"},     {"fooff", 32, "int", "float"},
    {"fop", 32, "int", "float"},       {"xmm0", 128, "vec128", nullptr},  {"xmm1", 128, "vec128", nullptr},
    {"xmm2", 128, "vec128", nullptr},  {"xmm3", 128, "vec128", nullptr},  {"xmm4", 128, "vec128", nullptr},
    {"xmm5", 128, "vec128", nullptr},  {"xmm6", 128, "vec128", nullptr},  {"xmm7", 128, "vec128", nullptr},
    {"xmm8", 128, "vec128", nullptr},  {"xmm9", 128, "vec128", nullptr},  {"xmm10", 128, "vec128", nullptr},
    {"xmm11", 128, "vec128", nullptr}, {"xmm12", 128, "vec128", nullptr}, {"xmm13", 128, "vec128", nullptr},
    {"xmm14", 128, "vec128", nullptr}, {"xmm15", 128, "vec128", nullptr}, {"mxcsr", 32, "int", "vector"},
    {"fs_base", 64, "int64", nullptr}, {"gs_base", 64, "int64", nullptr}, {"k_gs_base", 64, "int64", "system"},
    {"cr0", 64, "int64", "system"},    {"cr2", 64, "int64", "system"},    {"cr3", 64, "int64", "system"},
    {"cr4", 64, "int64", "system"},    {"cr8", 64, "int64", "system"},    {"efer", 64, "int64", "system"},
}};

// Where register `n` lives in DebugRegs: a scalar (read/written as a
// 64-bit value, truncated to the register's width) or raw bytes.
struct Slot {
  uint64_t* u64 = nullptr;
  uint32_t* u32 = nullptr;
  uint16_t* u16 = nullptr;
  uint8_t* bytes = nullptr;  // st (first 10 of 16 bytes) and xmm
};

Slot slot(hv::DebugRegs& r, int n) {
  if (n < 16) return {&r.gpr[size_t(n)]};
  if (n == 16) return {&r.rip};
  if (n == 17) return {&r.rflags};
  if (n < 24) return {nullptr, nullptr, &r.sel[size_t(n - 18)]};
  if (n < 32) return {nullptr, nullptr, nullptr, r.st[size_t(n - 24)].data()};
  if (n < 40) {
    uint32_t* x87[] = {&r.fctrl, &r.fstat, &r.ftag, &r.fiseg, &r.fioff, &r.foseg, &r.fooff, &r.fop};
    return {nullptr, x87[n - 32]};
  }
  if (n < 56) return {nullptr, nullptr, nullptr, r.xmm[size_t(n - 40)].data()};
  if (n == 56) return {nullptr, &r.mxcsr};
  uint64_t* rest[] = {&r.fs_base, &r.gs_base, &r.kernel_gs_base, &r.cr0, &r.cr2, &r.cr3, &r.cr4, &r.cr8, &r.efer};
  return {rest[n - 57]};
}

const char* feature_of(int n) {
  if (n < 40) return "org.gnu.gdb.i386.core";
  if (n < 57) return "org.gnu.gdb.i386.sse";
  if (n < 59) return "org.gnu.gdb.i386.segments";
  return "org.amber.x86.sys";
}

// The types gdb's own 64bit-core.xml and 64bit-sse.xml define.
constexpr const char* kCoreTypes = R"(    <flags id="i386_eflags" size="4">
      <field name="CF" start="0" end="0"/><field name="" start="1" end="1"/>
      <field name="PF" start="2" end="2"/><field name="AF" start="4" end="4"/>
      <field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
      <field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/>
      <field name="DF" start="10" end="10"/><field name="OF" start="11" end="11"/>
      <field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
      <field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/>
      <field name="VIF" start="19" end="19"/><field name="VIP" start="20" end="20"/>
      <field name="ID" start="21" end="21"/>
    </flags>
)";
constexpr const char* kSseTypes = R"(    <vector id="v4f" type="ieee_single" count="4"/>
    <vector id="v2d" type="ieee_double" count="2"/>
    <vector id="v16i8" type="int8" count="16"/>
    <vector id="v8i16" type="int16" count="8"/>
    <vector id="v4i32" type="int32" count="4"/>
    <vector id="v2i64" type="int64" count="2"/>
    <union id="vec128">
      <field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>
      <field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>
      <field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>
      <field name="uint128" type="uint128"/>
    </union>
)";

std::string build_xml() {
  std::string x = "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target version=\"1.0\">\n"
                  "  <architecture>i386:x86-64</architecture>\n";
  const char* open = nullptr;
  for (int n = 0; n < kNumRegs; ++n) {
    const char* f = feature_of(n);
    if (f != open) {
      if (open) x += "  </feature>\n";
      x += fmt::format("  <feature name=\"{}\">\n", f);
      if (n == 0) x += kCoreTypes;
      if (n == 40) x += kSseTypes;
      open = f;
    }
    const RegInfo& r = kRegs[size_t(n)];
    x += fmt::format("    <reg name=\"{}\" bitsize=\"{}\" type=\"{}\" regnum=\"{}\"{}/>\n", r.name, r.bits, r.type, n,
                     r.group ? fmt::format(" group=\"{}\"", r.group) : std::string());
  }
  x += "  </feature>\n</target>\n";
  return x;
}

}  // namespace

const RegInfo& reg_info(int regnum) { return kRegs.at(size_t(regnum)); }

std::vector<uint8_t> reg_bytes(const hv::DebugRegs& r, int n) {
  Slot s = slot(const_cast<hv::DebugRegs&>(r), n);
  std::vector<uint8_t> out(kRegs.at(size_t(n)).bits / 8);
  if (s.bytes) {
    std::memcpy(out.data(), s.bytes, out.size());
    return out;
  }
  uint64_t v = s.u64 ? *s.u64 : s.u32 ? *s.u32 : *s.u16;
  for (size_t i = 0; i < out.size(); ++i) out[i] = uint8_t(v >> (8 * i));
  return out;
}

bool set_reg_bytes(hv::DebugRegs& r, int n, std::span<const uint8_t> bytes) {
  if (n < 0 || n >= kNumRegs || bytes.size() != kRegs[size_t(n)].bits / 8u) return false;
  Slot s = slot(r, n);
  if (s.bytes) {
    std::memcpy(s.bytes, bytes.data(), bytes.size());
    return true;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < bytes.size(); ++i) v |= uint64_t(bytes[i]) << (8 * i);
  if (s.u64)
    *s.u64 = v;
  else if (s.u32)
    *s.u32 = uint32_t(v);
  else
    *s.u16 = uint16_t(v);  // a selector is 16 bits; gdb shows it in 32
  return true;
}

std::string encode_registers(const hv::DebugRegs& r) {
  std::string out;
  for (int n = 0; n < kNumRegs; ++n) out += to_hex(reg_bytes(r, n));
  return out;
}

bool decode_registers(hv::DebugRegs& r, std::string_view hex) {
  size_t total = 0;
  for (auto& info : kRegs) total += info.bits / 4u;
  if (hex.size() != total) return false;
  hv::DebugRegs next = r;
  size_t pos = 0;
  for (int n = 0; n < kNumRegs; ++n) {
    size_t len = kRegs[size_t(n)].bits / 4u;
    auto bytes = from_hex(hex.substr(pos, len));
    if (!bytes || !set_reg_bytes(next, n, *bytes)) return false;
    pos += len;
  }
  r = next;
  return true;
}

const std::string& target_xml() {
  static const std::string xml = build_xml();
  return xml;
}

}  // namespace amber::gdb
