#include "firmware/mptable.h"

#include <cstring>
#include <vector>

#include "amber/error.h"
#include "amber/layout.h"
#include "firmware/boot_layout.h"
#include "firmware/mp_spec.h"

namespace amber::x86 {
namespace {

constexpr uint8_t kIsaBusId = 0;
constexpr uint8_t kAllLapics = 0xff;
constexpr uint32_t kIsaIrqs = 16;

uint8_t checksum(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(-sum);  // makes the bytes sum to 0 mod 256
}

template <class T>
void append(std::vector<uint8_t>& out, const T& v) {
  auto p = reinterpret_cast<const uint8_t*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

uint32_t entry_count(uint32_t cpus) { return cpus + 1 /*bus*/ + 1 /*ioapic*/ + kIoapicPins + 2 /*LINT0/1*/; }

}  // namespace

uint64_t mptable_size(uint32_t cpus) {
  return sizeof(MpFloatingPointer) + sizeof(MpConfigHeader) + cpus * sizeof(MpProcessorEntry) + sizeof(MpBusEntry) +
         sizeof(MpIoapicEntry) + (kIoapicPins + 2) * sizeof(MpInterruptEntry);
}

void write_mptable(const GuestMemory& mem, uint32_t cpus) {
  if (cpus < 1 || cpus > kMaxCpus) throw Error(fmt::format("MP table: {} vCPUs (supported: 1..{})", cpus, kMaxCpus));
  // Linux looks for the floating pointer in the last KiB of base memory and
  // everything must stay in the reserved area below 1 MiB.
  uint64_t size = mptable_size(cpus);
  if (layout::kMpTableAddr + size > layout::kHighMemStart)
    throw Error(fmt::format("MP table: {} bytes for {} vCPUs do not fit below 1 MiB", size, cpus));

  const uint64_t table_addr = layout::kMpTableAddr + sizeof(MpFloatingPointer);
  std::vector<uint8_t> body;
  MpConfigHeader hdr{};
  append(body, hdr);  // placeholder, rewritten once length and checksum are known

  for (uint32_t i = 0; i < cpus; ++i) {
    MpProcessorEntry p{};
    p.type = kMpProcessor;
    p.lapic_id = static_cast<uint8_t>(i);
    p.lapic_version = kLapicVersion;
    p.cpu_flags = static_cast<uint8_t>(kMpCpuEnabled | (i == 0 ? kMpCpuBootstrap : 0));
    p.cpu_signature = kMpCpuSignature;
    p.feature_flags = kMpCpuFeatures;
    append(body, p);
  }
  MpBusEntry bus{kMpBus, kIsaBusId, {'I', 'S', 'A', ' ', ' ', ' '}};
  append(body, bus);
  const uint8_t ioapic_id = static_cast<uint8_t>(cpus);  // after the local APIC ids
  MpIoapicEntry ioapic{kMpIoapic, ioapic_id, kIoapicVersion, kMpIoapicEnabled,
                       static_cast<uint32_t>(layout::kIoapicAddr)};
  append(body, ioapic);
  // ISA IRQ n -> INTIN n for the 16 ISA IRQs (KVM routes GSI n to pin n, PIT
  // on GSI 0 included), then pins 16..23 so devices above IRQ 15 work too;
  // Linux maps each to GSI = pin.
  for (uint32_t pin = 0; pin < kIoapicPins; ++pin) {
    MpInterruptEntry e{kMpIoInterrupt, kMpIntInt, 0, kIsaBusId, static_cast<uint8_t>(pin), ioapic_id,
                       static_cast<uint8_t>(pin)};
    append(body, e);
  }
  static_assert(kIoapicPins >= kIsaIrqs);
  // MP spec §5.1 default: the 8259 ExtINT on LINT0, NMI on LINT1, all CPUs.
  append(body, MpInterruptEntry{kMpLocalInterrupt, kMpIntExtInt, 0, kIsaBusId, 0, kAllLapics, 0});
  append(body, MpInterruptEntry{kMpLocalInterrupt, kMpIntNmi, 0, kIsaBusId, 0, kAllLapics, 1});

  std::memcpy(hdr.signature, "PCMP", 4);
  hdr.length = static_cast<uint16_t>(body.size());
  hdr.spec_rev = kMpSpecRev14;
  std::memcpy(hdr.oem_id, "AMBER   ", 8);
  std::memcpy(hdr.product_id, "AMBER VM    ", 12);
  hdr.entry_count = static_cast<uint16_t>(entry_count(cpus));
  hdr.lapic_addr = static_cast<uint32_t>(layout::kLapicAddr);
  std::memcpy(body.data(), &hdr, sizeof hdr);
  body[offsetof(MpConfigHeader, checksum)] = checksum(body.data(), body.size());

  MpFloatingPointer fp{};
  std::memcpy(fp.signature, "_MP_", 4);
  fp.physptr = static_cast<uint32_t>(table_addr);
  fp.length = 1;
  fp.spec_rev = kMpSpecRev14;
  fp.checksum = checksum(reinterpret_cast<const uint8_t*>(&fp), sizeof fp);

  if (!mem.write_obj(layout::kMpTableAddr, fp)) throw Error("MP table is outside guest RAM");
  mem.write(table_addr, body);
}

}  // namespace amber::x86
