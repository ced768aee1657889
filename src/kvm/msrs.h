#pragma once
// Model-specific registers: the boot values a fresh vCPU gets, and the list
// of MSRs a snapshot saves (api.rst 4.18 KVM_GET_MSRS, 4.3
// KVM_GET_MSR_INDEX_LIST).
#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "kvm/flex_buf.h"
#include "kvm/kvm_abi.h"

namespace amber::kvm {

inline constexpr uint32_t kMsrIa32Tsc = 0x10;
inline constexpr uint32_t kMsrIa32ApicBase = 0x1b;
inline constexpr uint32_t kMsrIa32SysenterCs = 0x174;
inline constexpr uint32_t kMsrIa32SysenterEsp = 0x175;
inline constexpr uint32_t kMsrIa32SysenterEip = 0x176;
inline constexpr uint32_t kMsrIa32MiscEnable = 0x1a0;
inline constexpr uint32_t kMsrMtrrDefType = 0x2ff;
// SDM vol. 3A 12.11.2 (MTRRs): 8 variable pairs (KVM's MTRRcap VCNT),
// 11 fixed-range registers; 12.12.2 IA32_PAT.
inline constexpr uint32_t kMsrMtrrPhysBase0 = 0x200;  // ..0x20f: PhysBase/PhysMask pairs
inline constexpr uint32_t kMsrMtrrVarCount = 8;
inline constexpr uint32_t kMsrMtrrFix64k00000 = 0x250;
inline constexpr uint32_t kMsrMtrrFix16k80000 = 0x258;
inline constexpr uint32_t kMsrMtrrFix16kA0000 = 0x259;
inline constexpr uint32_t kMsrMtrrFix4kC0000 = 0x268;  // ..0x26f
inline constexpr uint32_t kMsrIa32Pat = 0x277;
inline constexpr uint32_t kMsrIa32TscDeadline = 0x6e0;
inline constexpr uint32_t kMsrStar = 0xc0000081;
inline constexpr uint32_t kMsrLstar = 0xc0000082;
inline constexpr uint32_t kMsrCstar = 0xc0000083;
inline constexpr uint32_t kMsrSyscallMask = 0xc0000084;
inline constexpr uint32_t kMsrKernelGsBase = 0xc0000102;
inline constexpr uint32_t kMsrKvmWallClockNew = 0x4b564d00;
inline constexpr uint32_t kMsrKvmSystemTimeNew = 0x4b564d01;
inline constexpr uint32_t kMsrKvmAsyncPfEn = 0x4b564d02;
inline constexpr uint32_t kMsrKvmStealTime = 0x4b564d03;
inline constexpr uint32_t kMsrKvmPvEoiEn = 0x4b564d04;
inline constexpr uint32_t kMsrKvmPollControl = 0x4b564d05;
inline constexpr uint32_t kMsrKvmAsyncPfInt = 0x4b564d06;

inline constexpr uint64_t kMiscEnableFastString = 1;
inline constexpr uint64_t kMtrrEnable = 1ull << 11;
inline constexpr uint64_t kMemTypeWriteBack = 6;

// KVM refuses more than MAX_IO_MSRS (256) entries per KVM_GET/SET_MSRS.
inline constexpr size_t kMsrsPerIoctl = 255;
// The most MSRs an image may carry.
inline constexpr size_t kMaxSavedMsrs = 2048;

using MsrBuf = FlexBuf<MsrsHeader, kvm_msr_entry>;

// What a fresh vCPU starts with (like Firecracker's boot MSRs): SYSENTER,
// SYSCALL and TSC zeroed, fast strings on, MTRRs enabled with write-back
// default.
std::vector<kvm_msr_entry> boot_msrs();

// MSRs saved even if KVM_GET_MSR_INDEX_LIST forgot them (older kernels list
// some emulated MSRs only in the feature list); kept only when readable.
std::span<const uint32_t> must_save_msrs();

// The order KVM_SET_MSRS gets a saved list in: IA32_TSC first, since
// deadlines and offsets are relative to it, and IA32_TSC_DEADLINE last, so
// the timer is armed against the restored TSC (a deadline written before
// the TSC can fire at once or a whole offset late). Others keep their order.
void order_for_restore(std::span<kvm_msr_entry> msrs);

// Adds `elapsed_ns` at `tsc_khz` to the IA32_TSC entry, if any (saturating).
void advance_tsc(std::span<kvm_msr_entry> msrs, uint64_t elapsed_ns, uint32_t tsc_khz);

// `list` plus must_save_msrs(), deduplicated, order kept.
std::vector<uint32_t> candidate_msrs(std::span<const uint32_t> list);

// Reads as many entries from the front of `e` as it can and returns that
// count, like KVM_GET_MSRS (which stops at the first MSR it cannot read).
using ReadMsrs = std::function<size_t(std::span<kvm_msr_entry> e)>;
// The candidates `read` can actually return, probed in bulk: each failure
// drops one MSR and the read resumes after it.
std::vector<uint32_t> filter_readable(std::span<const uint32_t> candidates, const ReadMsrs& read);

}  // namespace amber::kvm
