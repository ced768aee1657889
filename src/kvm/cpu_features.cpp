#include "kvm/cpu_features.h"

#include <cstdint>
#include <fmt/core.h>

#include "kvm/cpuid.h"

namespace amber::kvm {

namespace {

enum Reg { kEax, kEbx, kEcx, kEdx };
const char* const kRegNames[] = {"EAX", "EBX", "ECX", "EDX"};

struct FeatureReg {
  uint32_t leaf, subleaf;
  Reg reg;
  uint32_t not_host_features;  // bits skipped (see the header)
};

// Intel SDM vol. 2A "CPUID"; AMD APM vol. 3 appendix E.
constexpr FeatureReg kFeatureRegs[] = {
    // OSXSAVE, TSC-deadline, hypervisor; VMX, which amber hides (cpuid.h),
    // so an image from before that still resumes where the host has it.
    {0x1, 0, kEcx, (1u << 27) | (1u << 24) | (1u << 31) | (1u << 5)},
    {0x1, 0, kEdx, 1u << 28},                              // HTT
    {0x7, 0, kEbx, 0},
    {0x7, 0, kEcx, 1u << 4},  // OSPKE
    {0x7, 0, kEdx, 0},
    {0x7, 1, kEax, 0},
    // The XSAVE state components the guest may enable in XCR0 (SDM vol. 1
    // 13.2; leaf 0xd.0 EAX:EDX): an image whose XSAVE area holds AVX-512
    // or AMX state cannot be restored where the host has no such component
    // (KVM_SET_XSAVE/KVM_SET_XCRS would fail with a bare EINVAL).
    {0xd, 0, kEax, 0},
    {0xd, 0, kEdx, 0},
    {0xd, 1, kEax, 0},  // XSAVEOPT, XSAVEC, XGETBV1, XSAVES
    {0x80000001, 0, kEcx, 1u << 2},  // SVM: hidden like VMX
    {0x80000001, 0, kEdx, 0},
    {0x80000007, 0, kEdx, 0},  // invariant TSC
    {0x80000008, 0, kEbx, 0},
};

struct Name {
  uint32_t leaf, subleaf;
  Reg reg;
  int bit;
  const char* name;
};

// The features a compiler or kernel commonly uses; others print as bits.
constexpr Name kNames[] = {
    {0x1, 0, kEcx, 0, "sse3"},       {0x1, 0, kEcx, 1, "pclmulqdq"},   {0x1, 0, kEcx, 9, "ssse3"},
    {0x1, 0, kEcx, 12, "fma"},       {0x1, 0, kEcx, 13, "cx16"},       {0x1, 0, kEcx, 19, "sse4_1"},
    {0x1, 0, kEcx, 20, "sse4_2"},    {0x1, 0, kEcx, 21, "x2apic"},     {0x1, 0, kEcx, 22, "movbe"},
    {0x1, 0, kEcx, 23, "popcnt"},    {0x1, 0, kEcx, 25, "aes"},        {0x1, 0, kEcx, 26, "xsave"},
    {0x1, 0, kEcx, 28, "avx"},       {0x1, 0, kEcx, 29, "f16c"},       {0x1, 0, kEcx, 30, "rdrand"},
    {0x1, 0, kEdx, 25, "sse"},       {0x1, 0, kEdx, 26, "sse2"},       {0x7, 0, kEbx, 0, "fsgsbase"},
    {0x7, 0, kEbx, 3, "bmi1"},       {0x7, 0, kEbx, 5, "avx2"},        {0x7, 0, kEbx, 8, "bmi2"},
    {0x7, 0, kEbx, 9, "erms"},       {0x7, 0, kEbx, 16, "avx512f"},    {0x7, 0, kEbx, 17, "avx512dq"},
    {0x7, 0, kEbx, 18, "rdseed"},    {0x7, 0, kEbx, 19, "adx"},        {0x7, 0, kEbx, 20, "smap"},
    {0x7, 0, kEbx, 28, "avx512cd"},  {0x7, 0, kEbx, 29, "sha"},        {0x7, 0, kEbx, 30, "avx512bw"},
    {0x7, 0, kEbx, 31, "avx512vl"},  {0x7, 0, kEcx, 1, "avx512vbmi"},  {0x7, 0, kEcx, 2, "umip"},
    {0x7, 0, kEcx, 3, "pku"},        {0x7, 0, kEcx, 8, "gfni"},        {0x7, 0, kEcx, 9, "vaes"},
    {0x7, 0, kEcx, 10, "vpclmulqdq"}, {0x7, 0, kEdx, 4, "fsrm"},       {0x7, 1, kEax, 4, "avx_vnni"},
    {0xd, 0, kEax, 2, "xcr0.avx"},   {0xd, 0, kEax, 3, "xcr0.bndregs"}, {0xd, 0, kEax, 4, "xcr0.bndcsr"},
    {0xd, 0, kEax, 5, "xcr0.opmask"}, {0xd, 0, kEax, 6, "xcr0.zmm_hi256"}, {0xd, 0, kEax, 7, "xcr0.hi16_zmm"},
    {0xd, 0, kEax, 9, "xcr0.pkru"},  {0xd, 0, kEax, 17, "xcr0.xtilecfg"}, {0xd, 0, kEax, 18, "xcr0.xtiledata"},
    {0xd, 1, kEax, 0, "xsaveopt"},   {0xd, 1, kEax, 1, "xsavec"},      {0xd, 1, kEax, 3, "xsaves"},
    {0x80000001, 0, kEcx, 5, "abm"}, {0x80000001, 0, kEdx, 27, "rdtscp"}, {0x80000001, 0, kEdx, 26, "pdpe1gb"},
    {0x80000007, 0, kEdx, 8, "invtsc"},
};

uint32_t reg_of(const kvm_cpuid_entry2& e, Reg r) {
  switch (r) {
    case kEax: return e.eax;
    case kEbx: return e.ebx;
    case kEcx: return e.ecx;
    default: return e.edx;
  }
}

std::string feature_name(const FeatureReg& f, int bit) {
  std::string where = fmt::format("leaf {:#x}{} {} bit {}", f.leaf, f.subleaf ? fmt::format(".{}", f.subleaf) : "",
                                  kRegNames[f.reg], bit);
  for (auto& n : kNames)
    if (n.leaf == f.leaf && n.subleaf == f.subleaf && n.reg == f.reg && n.bit == bit)
      return fmt::format("{} ({})", n.name, where);
  return where;
}

}  // namespace

std::vector<std::string> missing_cpu_features(std::span<const kvm_cpuid_entry2> image,
                                              std::span<const kvm_cpuid_entry2> supported) {
  std::vector<std::string> out;
  for (auto& f : kFeatureRegs) {
    const kvm_cpuid_entry2* want = find_cpuid(image, f.leaf, f.subleaf);
    if (!want) continue;
    const kvm_cpuid_entry2* have = find_cpuid(supported, f.leaf, f.subleaf);
    uint32_t missing = reg_of(*want, f.reg) & ~(have ? reg_of(*have, f.reg) : 0) & ~f.not_host_features;
    for (int bit = 0; bit < 32; ++bit)
      if (missing & (1u << bit)) out.push_back(feature_name(f, bit));
  }
  return out;
}

}  // namespace amber::kvm
