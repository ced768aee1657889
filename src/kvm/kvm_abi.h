#pragma once
// C-layout definitions of the KVM structs that end in a flexible array, and
// the ioctl numbers that encode their size.
//
// Why: Debian 12's linux-libc-dev (6.1) declares those arrays with
// __DECLARE_FLEX_ARRAY, which in C++ expands to an empty struct member (1
// byte) before the array. Under g++, sizeof(kvm_cpuid2) is 12 instead of 8,
// sizeof(kvm_msrs) 16 instead of 8, sizeof(kvm_msr_list) 8 instead of 4 and
// sizeof(kvm_xsave) 4100 instead of 4096, and the entries sit at the wrong
// offset. The _IOWR numbers built from them are then not the kernel's:
// KVM_GET_SUPPORTED_CPUID fails with EINVAL. Everything in src/kvm uses the
// definitions below instead; the static_asserts pin them to the kernel ABI.
#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>

namespace amber::kvm {

struct CpuidHeader {  // struct kvm_cpuid2 without entries[]
  uint32_t nent;
  uint32_t padding;
};
struct MsrsHeader {  // struct kvm_msrs without entries[]
  uint32_t nmsrs;
  uint32_t pad;
};
struct MsrListHeader {  // struct kvm_msr_list without indices[]
  uint32_t nmsrs;
};
struct XsaveArea {  // struct kvm_xsave without extra[]
  uint32_t region[1024];
};

inline constexpr size_t kXsaveSize = sizeof(XsaveArea);

inline constexpr unsigned long kKvmGetMsrIndexList = _IOWR(KVMIO, 0x02, MsrListHeader);
inline constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long kKvmGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);
inline constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
inline constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
inline constexpr unsigned long kKvmGetCpuid2 = _IOWR(KVMIO, 0x91, CpuidHeader);
inline constexpr unsigned long kKvmGetXsave = _IOR(KVMIO, 0xa4, XsaveArea);
inline constexpr unsigned long kKvmSetXsave = _IOW(KVMIO, 0xa5, XsaveArea);
inline constexpr unsigned long kKvmGetXsave2 = _IOR(KVMIO, 0xcf, XsaveArea);

// The values the kernel (built as C) uses: api.rst gives the same
// _IOWR(KVMIO, nr, struct ...) with the C sizes.
static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrsHeader) == 8 && sizeof(MsrListHeader) == 4);
static_assert(kXsaveSize == 4096);
static_assert(kKvmGetSupportedCpuid == 0xc008ae05ul);
static_assert(kKvmGetMsrIndexList == 0xc004ae02ul);
static_assert(kKvmGetMsrs == 0xc008ae88ul && kKvmSetMsrs == 0x4008ae89ul);
static_assert(kKvmSetCpuid2 == 0x4008ae90ul && kKvmGetCpuid2 == 0xc008ae91ul);
static_assert(kKvmGetXsave == 0x9000aea4ul && kKvmSetXsave == 0x5000aea5ul && kKvmGetXsave2 == 0x9000aecful);
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);

}  // namespace amber::kvm
