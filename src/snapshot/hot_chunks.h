// Which chunks of a compressed image a resumed guest touched first, kept
// for the next resume of the same file, which brings them in ahead of the
// guest (issue 12 goal 4; the idea is REAP's, "Benchmarking, Analysis, and
// Optimization of Serverless Function Snapshots", ASPLOS '21: record the
// working set of the first run, prefetch it in later ones).
//
// A lazy resume (lazy_ram.h) decompresses a chunk when the guest first
// touches it; each such fault costs a wait for zstd. The chunks a guest
// touches right after a resume are much the same every time (the same
// shell, the same kernel paths), so a resume records them in order and
// later ones fill them in the background before the guest asks (and add
// whatever their guest still faulted on).
// A record is only advice: every chunk is still checked against its
// checksums when it is decoded, and a wrong or stale list only costs
// decompressions the guest did not need yet.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "snapshot/checked_images.h"

namespace amber::image {

// A chunk of a compressed RAM region: Image::RamRegion::chunks[chunk] of
// ram_regions()[region].
struct ChunkRef {
  uint32_t region = 0;
  uint32_t chunk = 0;
  bool operator==(const ChunkRef&) const = default;
};

// The most chunks a record holds: 1 GiB of 256 KiB chunks, far more than a
// guest touches before the background pass has filled the rest.
constexpr size_t kMaxHotChunks = 4096;

class HotChunkRecords {
 public:
  explicit HotChunkRecords(std::string dir = {}) : dir_(std::move(dir)) {}
  // user_record_dir("hot") (record_dir.h); disabled without a home.
  static HotChunkRecords for_this_user();
  bool enabled() const { return !dir_.empty(); }

  // The record of exactly this file (same identity), or empty: none, one of
  // another file or of an earlier version of it, or an unreadable one.
  std::vector<ChunkRef> load(const FileIdentity& id) const noexcept;
  // Replaces the record of this file (at most kMaxHotChunks entries are
  // kept); best effort, nothing when `hot` is empty.
  void store(const FileIdentity& id, const std::vector<ChunkRef>& hot) const noexcept;

  // `known` (a loaded record) followed by the chunks of `fresh` it lacks, in
  // their order, at most kMaxHotChunks: each resume adds what its guest
  // still faulted on, so the record converges on the early working set.
  static std::vector<ChunkRef> merged(const std::vector<ChunkRef>& known, const std::vector<ChunkRef>& fresh);

 private:
  std::string dir_;
};

}  // namespace amber::image
