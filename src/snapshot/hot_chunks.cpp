#include "snapshot/hot_chunks.h"

#include <algorithm>
#include <charconv>
#include <set>

#include <fmt/core.h>

#include "snapshot/record_dir.h"

namespace amber::image {

namespace {

// "amber-hot 1 SIZE CTIME_SEC CTIME_NSEC METADATA_XXH3 DEV INO COUNT\n", then
// COUNT lines "REGION CHUNK\n".
std::string header_of(const FileIdentity& id, size_t count) {
  return fmt::format("amber-hot 1 {} {} {} {} {} {} {}\n", id.size, id.ctime_sec, id.ctime_nsec, id.metadata_xxh3,
                     id.dev, id.ino, count);
}

// Parses one unsigned decimal number ending at `end` (exclusive of it).
bool number(std::string_view& s, char end, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{} || p == s.data() || p == s.data() + s.size() || *p != end) return false;
  s.remove_prefix(static_cast<size_t>(p - s.data()) + 1);
  return true;
}

}  // namespace

HotChunkRecords HotChunkRecords::for_this_user() { return HotChunkRecords(user_record_dir("hot")); }

std::vector<ChunkRef> HotChunkRecords::load(const FileIdentity& id) const noexcept {
  try {
    // The longest record: the header plus kMaxHotChunks lines of two 10-digit numbers.
    auto text = read_record(dir_, CheckedImages::record_name(id), 256 + kMaxHotChunks * 22);
    if (!text) return {};
    std::string_view s = *text;
    size_t nl = s.find('\n');
    if (nl == std::string_view::npos) return {};
    std::string_view head = s.substr(0, nl + 1);
    s.remove_prefix(nl + 1);
    // The count is the header's last field; the header must be exactly ours.
    size_t sp = head.rfind(' ');
    uint64_t count = 0;
    std::string_view count_text = head.substr(sp + 1);
    if (sp == std::string_view::npos || !number(count_text, '\n', count) || count > kMaxHotChunks ||
        head != header_of(id, count))
      return {};
    std::vector<ChunkRef> out;
    out.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      uint64_t region = 0, chunk = 0;
      if (!number(s, ' ', region) || !number(s, '\n', chunk) || region > UINT32_MAX || chunk > UINT32_MAX) return {};
      out.push_back({static_cast<uint32_t>(region), static_cast<uint32_t>(chunk)});
    }
    if (!s.empty()) return {};
    return out;
  } catch (...) {
    return {};
  }
}

void HotChunkRecords::store(const FileIdentity& id, const std::vector<ChunkRef>& hot) const noexcept {
  if (!enabled() || hot.empty()) return;
  try {
    size_t n = std::min(hot.size(), kMaxHotChunks);
    std::string text = header_of(id, n);
    for (size_t i = 0; i < n; ++i) text += fmt::format("{} {}\n", hot[i].region, hot[i].chunk);
    write_record(dir_, CheckedImages::record_name(id), text);
  } catch (...) {
  }
}

std::vector<ChunkRef> HotChunkRecords::merged(const std::vector<ChunkRef>& known, const std::vector<ChunkRef>& fresh) {
  std::vector<ChunkRef> out(known.begin(), known.begin() + static_cast<ptrdiff_t>(std::min(known.size(), kMaxHotChunks)));
  std::set<std::pair<uint32_t, uint32_t>> seen;
  for (auto& c : out) seen.insert({c.region, c.chunk});
  for (auto& c : fresh) {
    if (out.size() == kMaxHotChunks) break;
    if (seen.insert({c.region, c.chunk}).second) out.push_back(c);
  }
  return out;
}

}  // namespace amber::image
