#include "snapshot/image_format.h"

#include <xxhash.h>

#include <cstring>

#include <fmt/core.h>

#include "amber/error.h"

namespace amber::image {

uint64_t xxh3(const void* data, size_t len) { return XXH3_64bits(data, len); }

namespace {

void put(std::string& b, size_t off, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) b[off + i] = static_cast<char>(v >> (8 * i));
}
uint64_t get(std::span<const uint8_t> b, size_t off, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t(b[off + i]) << (8 * i);
  return v;
}

}  // namespace

std::string encode_header(const Header& h) {
  std::string b(kHeaderSize, '\0');
  std::memcpy(b.data() + hdr::kMagic, kMagic, sizeof kMagic);
  put(b, hdr::kMajor, h.major, 2);
  put(b, hdr::kMinor, h.minor, 2);
  put(b, hdr::kHeaderSize, kHeaderSize, 4);
  put(b, hdr::kIncompat, h.incompat, 4);
  put(b, hdr::kCompat, h.compat, 4);
  put(b, hdr::kMetadataOffset, h.metadata_offset, 8);
  put(b, hdr::kMetadataSize, h.metadata_size, 8);
  put(b, hdr::kMetadataXxh3, h.metadata_xxh3, 8);
  put(b, hdr::kDataEnd, h.data_end, 8);
  put(b, kHeaderSize - 8, xxh3(b.data(), kHeaderSize - 8), 8);
  return b;
}

Header decode_header(std::span<const uint8_t> b, const std::string& file) {
  auto fail = [&](const std::string& why) -> Error { return Error(fmt::format("{}: {}", file, why)); };
  if (b.size() < sizeof kMagic || std::memcmp(b.data(), kMagic, sizeof kMagic) != 0)
    throw fail("not an amber image (bad magic)");
  if (b.size() < kHeaderSize)
    throw fail(fmt::format("truncated: header needs {} bytes, file has {}", kHeaderSize, b.size()));
  Header h;
  h.major = static_cast<uint16_t>(get(b, hdr::kMajor, 2));
  h.minor = static_cast<uint16_t>(get(b, hdr::kMinor, 2));
  // The version is checked before the checksum: a future major may change the
  // header itself, and "too new" is the message the user needs then.
  if (h.major > kFormatMajor)
    throw fail(fmt::format("image format {}.{} is newer than this amber supports ({}.{}); use a newer amber",
                           h.major, h.minor, kFormatMajor, kFormatMinor));
  if (h.major < kFormatMajor)
    throw fail(fmt::format("image format {}.{} is older than this amber supports ({}.x)", h.major, h.minor,
                           kFormatMajor));
  h.header_size = static_cast<uint32_t>(get(b, hdr::kHeaderSize, 4));
  if (h.header_size < kHeaderSize || h.header_size > kHeaderMaxSize || h.header_size % 8)
    throw fail(fmt::format("header: bad header size {}", h.header_size));
  if (b.size() < h.header_size)
    throw fail(fmt::format("truncated: header needs {} bytes, file has {}", h.header_size, b.size()));
  uint64_t want = get(b, h.header_size - 8, 8);
  uint64_t got = xxh3(b.data(), h.header_size - 8);
  if (want != got && kCheckMetaChecksums) throw fail(fmt::format("header: checksum mismatch (stored {:016x}, computed {:016x})", want, got));
  h.incompat = static_cast<uint32_t>(get(b, hdr::kIncompat, 4));
  h.compat = static_cast<uint32_t>(get(b, hdr::kCompat, 4));
  if (h.incompat & ~kKnownIncompat)
    throw fail(fmt::format("image {}.{} uses incompatible features {:#x} this amber does not know", h.major,
                           h.minor, h.incompat & ~kKnownIncompat));
  h.metadata_offset = get(b, hdr::kMetadataOffset, 8);
  h.metadata_size = get(b, hdr::kMetadataSize, 8);
  h.metadata_xxh3 = get(b, hdr::kMetadataXxh3, 8);
  h.data_end = get(b, hdr::kDataEnd, 8);
  if (h.metadata_size == 0 || h.metadata_size > kMetadataMax)
    throw fail(fmt::format("header: metadata size {} outside 1..{}", h.metadata_size, kMetadataMax));
  if (h.metadata_offset < h.header_size || h.metadata_offset > (1ull << 62))
    throw fail(fmt::format("header: bad metadata offset {}", h.metadata_offset));
  if (h.data_end > (1ull << 62)) throw fail(fmt::format("header: bad data end {}", h.data_end));
  return h;
}

}  // namespace amber::image
