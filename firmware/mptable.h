#pragma once
// The MP table that tells a Linux kernel without ACPI about the vCPUs and
// the IOAPIC (Intel MP spec 1.4), at layout::kMpTableAddr.
#include <cstdint>

#include "amber/guest_memory.h"

namespace amber::x86 {

inline constexpr uint8_t kIoapicVersion = 0x11;    // KVM's in-kernel IOAPIC (82093AA-like)
inline constexpr uint8_t kLapicVersion = 0x14;     // KVM's local APIC version register
inline constexpr uint32_t kMpCpuSignature = 0x600; // family 6, model 0, stepping 0
inline constexpr uint32_t kMpCpuFeatures = 0x201;  // CPUID.1:EDX FPU | APIC

// Total bytes (floating pointer + configuration table) for `cpus` vCPUs.
uint64_t mptable_size(uint32_t cpus);

// Writes the MP floating pointer and configuration table for `cpus` vCPUs
// (1..32, APIC ids 0..cpus-1, the BSP is 0) and the IOAPIC (id `cpus`).
// Throws Error for a bad count or when the table would not fit below 1 MiB.
void write_mptable(const GuestMemory& mem, uint32_t cpus);

}  // namespace amber::x86
