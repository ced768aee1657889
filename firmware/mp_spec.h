#pragma once
// Intel MultiProcessor Specification 1.4 structures (chapter 4, "MP
// Configuration Table"), little-endian and packed as laid out in the spec.
#include <cstddef>
#include <cstdint>

namespace amber::x86 {

inline constexpr uint8_t kMpSpecRev14 = 4;

// Entry types (MP spec table 4-3).
inline constexpr uint8_t kMpProcessor = 0;
inline constexpr uint8_t kMpBus = 1;
inline constexpr uint8_t kMpIoapic = 2;
inline constexpr uint8_t kMpIoInterrupt = 3;
inline constexpr uint8_t kMpLocalInterrupt = 4;

// Interrupt types (MP spec table 4-11).
inline constexpr uint8_t kMpIntInt = 0;
inline constexpr uint8_t kMpIntNmi = 1;
inline constexpr uint8_t kMpIntExtInt = 3;

inline constexpr uint8_t kMpCpuEnabled = 0x01;     // CPU flags: EN
inline constexpr uint8_t kMpCpuBootstrap = 0x02;   // CPU flags: BP
inline constexpr uint8_t kMpIoapicEnabled = 0x01;

#pragma pack(push, 1)
struct MpFloatingPointer {   // §4.1, 16 bytes, 16-byte aligned
  char signature[4];         // "_MP_"
  uint32_t physptr;          // MP configuration table address
  uint8_t length;            // in 16-byte units: 1
  uint8_t spec_rev;
  uint8_t checksum;          // all 16 bytes sum to 0
  uint8_t feature1;          // 0: a configuration table is present
  uint8_t feature2;          // bit 7 IMCRP: 0 = virtual wire mode
  uint8_t feature3[3];
};

struct MpConfigHeader {      // §4.2
  char signature[4];         // "PCMP"
  uint16_t length;           // base table length, header included
  uint8_t spec_rev;
  uint8_t checksum;          // the base table sums to 0
  char oem_id[8];
  char product_id[12];
  uint32_t oem_table_ptr;
  uint16_t oem_table_size;
  uint16_t entry_count;
  uint32_t lapic_addr;
  uint16_t ext_table_length;
  uint8_t ext_table_checksum;
  uint8_t reserved;
};

struct MpProcessorEntry {    // §4.3.1
  uint8_t type;
  uint8_t lapic_id;
  uint8_t lapic_version;
  uint8_t cpu_flags;
  uint32_t cpu_signature;
  uint32_t feature_flags;
  uint32_t reserved[2];
};

struct MpBusEntry {          // §4.3.2
  uint8_t type;
  uint8_t bus_id;
  char bus_type[6];          // "ISA   "
};

struct MpIoapicEntry {       // §4.3.3
  uint8_t type;
  uint8_t ioapic_id;
  uint8_t ioapic_version;
  uint8_t flags;
  uint32_t address;
};

struct MpInterruptEntry {    // §4.3.4 I/O and §4.3.5 local interrupt assignment
  uint8_t type;
  uint8_t int_type;
  uint16_t flags;            // polarity/trigger; 0 = conforms to the bus
  uint8_t src_bus_id;
  uint8_t src_bus_irq;
  uint8_t dst_id;            // IOAPIC id, or local APIC id (0xff = all)
  uint8_t dst_pin;           // IOAPIC INTIN#, or LINTIN#
};
#pragma pack(pop)

static_assert(sizeof(MpFloatingPointer) == 16);
static_assert(sizeof(MpConfigHeader) == 44);
static_assert(offsetof(MpConfigHeader, entry_count) == 34);
static_assert(offsetof(MpConfigHeader, lapic_addr) == 36);
static_assert(sizeof(MpProcessorEntry) == 20);
static_assert(sizeof(MpBusEntry) == 8);
static_assert(sizeof(MpIoapicEntry) == 8);
static_assert(sizeof(MpInterruptEntry) == 8);

}  // namespace amber::x86
