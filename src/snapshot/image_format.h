#pragma once
// On-disk constants and the fixed header of the image file. The byte layout is
// specified in docs/image-format.md; keep the two in step.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace amber::image {

inline constexpr char kMagic[8] = {'A', 'M', 'B', 'E', 'R', 'I', 'M', 'G'};
inline constexpr uint16_t kFormatMajor = 1;
inline constexpr uint16_t kFormatMinor = 1;

inline constexpr uint64_t kPageSize = 4096;
inline constexpr uint64_t kHeaderSize = 128;       // 1.0 header; later minors may grow it
inline constexpr uint64_t kHeaderMaxSize = kPageSize;
inline constexpr uint64_t kDataStart = kPageSize;  // first data byte: the header owns page 0
inline constexpr uint64_t kPieceMax = 4ull << 20;  // max bytes under one extent checksum
// zstd frame: 256 KiB of guest RAM. Small enough that a lazy resume's
// fault decompresses little more than it needs (docs/image-format.md "Lazy
// restore of a zstd region"; 1 MiB before), large enough to compress well.
inline constexpr uint64_t kChunkSize = 256ull << 10;

// Caps for untrusted input: far above any real VM, small enough that a
// hostile image cannot make the reader allocate or loop without bound.
inline constexpr uint64_t kMetadataMax = 64ull << 20;
inline constexpr uint64_t kMaxRegions = 64;
inline constexpr uint64_t kMaxDisks = 64;
inline constexpr uint64_t kMaxRegionSize = 4ull << 40;  // 4 TiB
inline constexpr uint64_t kMaxDiskSize = 64ull << 40;   // 64 TiB
inline constexpr uint64_t kMinChunkSize = 64ull << 10;
inline constexpr uint64_t kMaxChunkSize = 64ull << 20;
inline constexpr int kMaxStateDepth = 32;
inline constexpr uint64_t kMaxStringProp = 1ull << 20;  // cmdline, note, names
// One node or property name as stored (escaped). FDT property names share
// the strings block, so without this cap one long string named by many
// properties costs (properties x length) to check and to copy.
inline constexpr uint64_t kMaxNameLen = 256;
// Nodes plus properties under /machine. A real 32-vCPU image has a few
// thousand; an empty FDT node is 8 bytes but a StateNode costs ~100, so the
// metadata cap alone would still let an image ask for gigabytes.
inline constexpr uint64_t kMaxStateItems = 1ull << 18;

// The libFuzzer build skips the header and metadata checksum checks so that
// mutated inputs reach the parser and the bounds checks behind them (a
// random byte flip would otherwise almost always stop at a checksum).
#ifdef AMBER_IMAGE_FUZZING
inline constexpr bool kCheckMetaChecksums = false;
#else
inline constexpr bool kCheckMetaChecksums = true;
#endif

// Incompatible feature bits (a reader refuses an image with an incompat bit
// it does not know, and ignores unknown compat bits).
// 1.1: some disk is stored packed (its extents one after another, not at
// their disk offsets). A 1.0 reader would look for the data at the disk
// offsets, so it must refuse the image; images without disks leave it clear.
inline constexpr uint32_t kIncompatPackedDisks = 1u << 0;
inline constexpr uint32_t kKnownIncompat = kIncompatPackedDisks;

// Header byte offsets (all fields little-endian).
namespace hdr {
inline constexpr size_t kMagic = 0;            // 8 bytes "AMBERIMG"
inline constexpr size_t kMajor = 8;            // u16
inline constexpr size_t kMinor = 10;           // u16
inline constexpr size_t kHeaderSize = 12;      // u32, >= 128, <= 4096, multiple of 8
inline constexpr size_t kIncompat = 16;        // u32
inline constexpr size_t kCompat = 20;          // u32
inline constexpr size_t kMetadataOffset = 24;  // u64
inline constexpr size_t kMetadataSize = 32;    // u64
inline constexpr size_t kMetadataXxh3 = 40;    // u64
inline constexpr size_t kDataEnd = 48;         // u64: end of the last data section
// 56 .. header_size-8: reserved, zero; header_size-8: u64 XXH3-64 of the bytes before it
}  // namespace hdr

struct Header {
  uint16_t major = kFormatMajor, minor = kFormatMinor;
  uint32_t header_size = kHeaderSize;
  uint32_t incompat = 0, compat = 0;
  uint64_t metadata_offset = 0, metadata_size = 0, metadata_xxh3 = 0;
  uint64_t data_end = 0;
};

// Serializes a header of kHeaderSize bytes (the 1.0 layout, which 1.1 keeps), checksum included.
std::string encode_header(const Header& h);

// Parses and validates the header at the start of `bytes` (which holds the
// first min(file size, kHeaderMaxSize) bytes of the file). Throws Error
// prefixed with `file` on bad magic, unsupported version, bad checksum.
Header decode_header(std::span<const uint8_t> bytes, const std::string& file);

uint64_t xxh3(const void* data, size_t len);
inline uint64_t round_up_page(uint64_t v) { return (v + kPageSize - 1) & ~(kPageSize - 1); }

}  // namespace amber::image
