#include "kvm/msrs.h"

#include <algorithm>
#include <unordered_set>

namespace amber::kvm {

std::vector<kvm_msr_entry> boot_msrs() {
  auto e = [](uint32_t index, uint64_t data) {
    kvm_msr_entry m{};
    m.index = index;
    m.data = data;
    return m;
  };
  return {
      e(kMsrIa32SysenterCs, 0),  e(kMsrIa32SysenterEsp, 0), e(kMsrIa32SysenterEip, 0),
      e(kMsrStar, 0),            e(kMsrLstar, 0),           e(kMsrCstar, 0),
      e(kMsrKernelGsBase, 0),    e(kMsrSyscallMask, 0),     e(kMsrIa32Tsc, 0),
      e(kMsrIa32MiscEnable, kMiscEnableFastString),
      e(kMsrMtrrDefType, kMtrrEnable | kMemTypeWriteBack),
  };
}

std::span<const uint32_t> must_save_msrs() {
  // KVM_GET_MSR_INDEX_LIST has no MTRRs (QEMU saves them by hand too), yet
  // a guest's MTRRs decide its memory types; issue 11 found them unsaved.
  static const std::vector<uint32_t> kList = [] {
    std::vector<uint32_t> v{
        kMsrIa32Tsc,          kMsrIa32TscDeadline, kMsrIa32MiscEnable, kMsrIa32ApicBase,
        kMsrKvmSystemTimeNew, kMsrKvmWallClockNew, kMsrKvmAsyncPfEn,   kMsrKvmStealTime,
        kMsrKvmPvEoiEn,       kMsrKvmPollControl,  kMsrKvmAsyncPfInt,  kMsrMtrrDefType,
        kMsrMtrrFix64k00000,  kMsrMtrrFix16k80000, kMsrMtrrFix16kA0000, kMsrIa32Pat,
    };
    for (uint32_t i = 0; i < 2 * kMsrMtrrVarCount; ++i) v.push_back(kMsrMtrrPhysBase0 + i);
    for (uint32_t i = 0; i < 8; ++i) v.push_back(kMsrMtrrFix4kC0000 + i);
    return v;
  }();
  return kList;
}

void advance_tsc(std::span<kvm_msr_entry> msrs, uint64_t elapsed_ns, uint32_t tsc_khz) {
  unsigned __int128 ticks = static_cast<unsigned __int128>(elapsed_ns) * tsc_khz / 1'000'000u;
  for (auto& e : msrs) {
    if (e.index != kMsrIa32Tsc) continue;
    unsigned __int128 v = static_cast<unsigned __int128>(e.data) + ticks;
    e.data = v > UINT64_MAX ? UINT64_MAX : static_cast<uint64_t>(v);
  }
}

void order_for_restore(std::span<kvm_msr_entry> msrs) {
  auto tsc_first = std::stable_partition(msrs.begin(), msrs.end(),
                                         [](const kvm_msr_entry& e) { return e.index == kMsrIa32Tsc; });
  std::stable_partition(tsc_first, msrs.end(), [](const kvm_msr_entry& e) { return e.index != kMsrIa32TscDeadline; });
}

std::vector<uint32_t> candidate_msrs(std::span<const uint32_t> list) {
  std::vector<uint32_t> out;
  std::unordered_set<uint32_t> seen;
  for (auto src : {list, must_save_msrs()})
    for (uint32_t i : src)
      if (seen.insert(i).second) out.push_back(i);
  return out;
}

std::vector<uint32_t> filter_readable(std::span<const uint32_t> candidates, const ReadMsrs& read) {
  std::vector<uint32_t> out;
  std::vector<kvm_msr_entry> buf;
  size_t pos = 0;
  while (pos < candidates.size()) {
    size_t n = std::min(kMsrsPerIoctl, candidates.size() - pos);
    buf.assign(n, kvm_msr_entry{});
    for (size_t i = 0; i < n; ++i) buf[i].index = candidates[pos + i];
    size_t ok = std::min(read(buf), n);
    for (size_t i = 0; i < ok; ++i) out.push_back(candidates[pos + i]);
    pos += ok;
    if (ok < n) ++pos;  // candidates[pos] is unreadable: skip it
  }
  return out;
}

}  // namespace amber::kvm
