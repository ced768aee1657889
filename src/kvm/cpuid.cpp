#include "kvm/cpuid.h"

#include <algorithm>

namespace amber::kvm {
namespace {

// Bits needed to number `n` items (x2APIC ID shift, SDM vol. 2A CPUID leaf 0BH).
uint32_t bits_for(uint32_t n) {
  uint32_t b = 0;
  while ((1u << b) < n) ++b;
  return b;
}

void set_bits(uint32_t& reg, int lo, int width, uint32_t value) {
  uint32_t mask = ((width == 32) ? ~0u : ((1u << width) - 1)) << lo;
  reg = (reg & ~mask) | ((value << lo) & mask);
}

// Leaf 0xB / 0x1F: level 0 = SMT (1 thread per core), level 1 = core (all
// vCPUs in one package), higher sub-leaves invalid. EDX = x2APIC ID.
void fix_topology(kvm_cpuid_entry2& e, uint32_t apic_id, uint32_t total) {
  e.edx = apic_id;
  e.ecx = e.index & 0xff;
  if (e.index == 0) {
    e.eax = 0;  // shift to the next level: 0 bits of thread ID
    e.ebx = 1;
    e.ecx |= 1u << 8;  // level type SMT
  } else if (e.index == 1) {
    e.eax = bits_for(total);
    e.ebx = total;
    e.ecx |= 2u << 8;  // level type core
  } else {
    e.eax = 0;
    e.ebx = 0;  // level type 0: invalid, ends the enumeration
  }
}

}  // namespace

const kvm_cpuid_entry2* find_cpuid(std::span<const kvm_cpuid_entry2> t, uint32_t function, uint32_t index) {
  for (auto& e : t)
    if (e.function == function && (!(e.flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e.index == index)) return &e;
  return nullptr;
}

std::vector<kvm_cpuid_entry2> adjust_cpuid(std::span<const kvm_cpuid_entry2> supported, uint32_t apic_id,
                                           uint32_t total, bool tsc_deadline) {
  total = std::max<uint32_t>(total, 1);
  std::vector<kvm_cpuid_entry2> out(supported.begin(), supported.end());
  for (auto& e : out) {
    switch (e.function) {
      case kCpuidLeafFeatures:
        // EBX[31:24] initial APIC ID, EBX[23:16] addressable logical CPUs
        // (meaningful with HTT), ECX[31] "running under a hypervisor".
        set_bits(e.ebx, 24, 8, apic_id);
        set_bits(e.ebx, 16, 8, std::min<uint32_t>(total, 255));
        if (total > 1)
          e.edx |= kCpuidEdxHtt;
        else
          e.edx &= ~kCpuidEdxHtt;
        e.ecx |= kCpuidEcxHypervisor;
        if (tsc_deadline) e.ecx |= 1u << 24;  // TSC-deadline timer (SDM Vol. 2A, CPUID leaf 1)
        e.ecx &= ~kCpuidEcxVmx;
        break;
      case kCpuidLeafAmdFeatures:
        e.ecx &= ~kCpuidEcxSvm;
        break;
      case kCpuidLeafCacheParams: {
        // Deterministic cache parameters: EAX[31:26] cores per package - 1,
        // EAX[25:14] threads sharing this cache - 1 (L1/L2 per core, L3 shared).
        if ((e.eax & 0x1f) == 0) break;  // cache type 0: no more caches
        uint32_t level = (e.eax >> 5) & 0x7;
        set_bits(e.eax, 26, 6, std::min<uint32_t>(total, 64) - 1);
        set_bits(e.eax, 14, 12, level >= 3 ? std::min<uint32_t>(total, 4096) - 1 : 0);
        break;
      }
      case kCpuidLeafTopology:
      case kCpuidLeafTopologyV2:
        fix_topology(e, apic_id, total);
        break;
      case kCpuidLeafAmdSizes:
        // AMD APM vol. 3, CPUID Fn8000_0008 ECX: NC = cores - 1 in [7:0],
        // ApicIdSize in [15:12].
        set_bits(e.ecx, 0, 8, std::min<uint32_t>(total, 256) - 1);
        set_bits(e.ecx, 12, 4, bits_for(total));
        break;
      case kCpuidLeafAmdExtApicId:
        // Fn8000_001E: EAX extended APIC ID, EBX[7:0] core ID, EBX[15:8]
        // threads per core - 1, ECX node ID 0.
        e.eax = apic_id;
        set_bits(e.ebx, 0, 8, apic_id);
        set_bits(e.ebx, 8, 8, 0);
        e.ecx = 0;
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace amber::kvm
