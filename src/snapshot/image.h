#pragma once
// The VM image: one file holding machine state (a StateNode tree), guest RAM
// and embedded disks. Layout and compatibility rules: docs/image-format.md.
//
// Writing is atomic (temporary file + fsync + rename). Opening treats the file
// as untrusted input: every offset, size, count and checksum is validated
// before use, and every failure is an amber::Error naming the file and the bad
// section.
#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "amber/extent.h"
#include "amber/mapping.h"
#include "amber/state.h"
#include "amber/unique_fd.h"
#include "snapshot/checked_images.h"

namespace amber::image {

// ---------------------------------------------------------------- writing

struct RamRegionIn {
  uint64_t gpa = 0;
  std::span<const uint8_t> host;  // live guest memory; size a multiple of 4096
  // The caller guarantees `host` is private anonymous memory (MAP_PRIVATE |
  // MAP_ANONYMOUS, not a memfd/shmem/file mapping). Then pages that were never
  // populated (neither present nor swapped, per /proc/self/pagemap) are known
  // to be zero and are skipped without being read. Wrong for shared or
  // file-backed memory, where an unpopulated PTE says nothing about content.
  bool private_anonymous = false;
};

struct DiskIn {
  std::string name;  // the config's name for it ("root")
  std::string id;    // the guest-visible serial
  bool read_only = false;
  uint64_t size = 0;
  // Allocated ranges, sorted, non-overlapping, inside size (what
  // DiskBackend::data_extents() returns). Everything outside them reads back as zeros.
  std::vector<Extent> extents;
  // Fills `out` with the disk's bytes at `off`; false on failure (the save is
  // aborted and the target file left untouched).
  std::function<bool(uint64_t off, std::span<uint8_t> out)> read;
};

struct SaveInput {
  StateNode machine;
  std::vector<RamRegionIn> ram;
  std::vector<DiskIn> disks;
  std::string cmdline;
  std::string note;
};

struct SaveOptions {
  bool compress = false;  // zstd, 1 MiB independent frames (no lazy mmap then)
  int level = 1;          // zstd level
  unsigned threads = 0;   // 0: min(hardware threads, 8)
  bool sync = true;       // fsync the file and the directory (durability)
  // Overrides the "created" time (seconds since the epoch): reproducible images.
  std::optional<uint64_t> created_unix;
  // Called with (bytes done, bytes total) of guest RAM + disk data; may be
  // called from worker threads, never concurrently.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct SaveStats {
  uint64_t file_size = 0;        // apparent size
  uint64_t allocated_bytes = 0;  // st_blocks * 512
  uint64_t ram_data_bytes = 0;   // non-zero RAM stored (raw bytes, before compression)
  uint64_t ram_zero_bytes = 0;   // RAM left as holes / omitted chunks
  uint64_t ram_stored_bytes = 0; // RAM bytes in the file (compressed size when compressed)
  uint64_t disk_data_bytes = 0;
  double seconds = 0;
};

// Writes `in` to `path` atomically: a previous file at `path` stays intact
// unless the whole image was written and synced.
SaveStats write_image(const std::string& path, const SaveInput& in, const SaveOptions& opt = {});

// ---------------------------------------------------------------- reading

// A checksummed piece of data: RAM run or disk extent. `offset` is relative to
// the section (guest offset in the region / byte offset in the disk); the data
// lives at section.file_offset + offset. Pieces are at most 4 MiB.
struct CheckedExtent : Extent {
  uint64_t xxh3 = 0;
  bool operator==(const CheckedExtent&) const = default;
};

// A checksummed piece of an embedded disk. `offset` is the disk offset; the
// bytes lie at disk.file_offset + stored: stored == offset in the 1.0
// in-place layout, packed one after another in the 1.1 packed layout.
struct DiskExtent : CheckedExtent {
  uint64_t stored = 0;
  bool operator==(const DiskExtent&) const = default;
};

// One independently compressed zstd frame of a compressed RAM region.
struct Chunk {
  uint64_t offset = 0;       // guest offset within the region (multiple of chunk_size)
  uint64_t length = 0;       // uncompressed bytes: min(chunk_size, size - offset)
  uint64_t frame_offset = 0; // relative to the region's file_offset
  uint64_t frame_size = 0;   // compressed bytes
  uint64_t xxh3_raw = 0, xxh3_frame = 0;
};

enum class Codec { kRaw, kZstd };

struct ImageInfo {
  uint16_t major = 0, minor = 0;
  uint32_t incompat = 0, compat = 0;  // the header's feature bits
  std::string writer;
  uint64_t created_unix = 0;
  std::string cmdline, note;
};

class Image;
// Throws unless every byte of `img`'s file in [from, to) is zero.
// Filesystem holes (SEEK_DATA/SEEK_HOLE) are zero without reading them;
// allocated blocks are read. `after` names what precedes the gap in the error.
void check_zero_gap(const Image& img, uint64_t from, uint64_t to, const std::string& after, std::vector<uint8_t>& buf);

// This host's RAM plus swap (sysinfo(2)): the most guest RAM a resume maps.
uint64_t host_memory_bytes();

class Image {
 public:
  struct RamRegion {
    uint64_t gpa = 0, size = 0;
    uint64_t file_offset = 0;  // page aligned
    uint64_t stored_size = 0;  // file bytes reserved: size (raw) or frames (zstd)
    Codec codec = Codec::kRaw;
    std::vector<CheckedExtent> runs;  // raw: non-zero pages; everything else is a hole
    uint64_t chunk_size = 0;   // zstd
    std::vector<Chunk> chunks; // zstd: all-zero chunks are omitted
    bool compressed() const { return codec == Codec::kZstd; }
  };
  struct Disk {
    std::string name, id;
    bool read_only = false;
    uint64_t size = 0;
    uint64_t file_offset = 0;    // page aligned: the start of the disk's section
    // false (1.0 in-place layout): the section is [file_offset, +size) and
    // disk offset x lies at file_offset + x. true (1.1 packed): the section
    // is [file_offset, +stored_size) and holds only the extents, one after
    // another; each extent says where (DiskExtent::stored).
    bool packed = false;
    uint64_t stored_size = 0;    // bytes of file the section owns (= size when in place)
    std::vector<DiskExtent> extents; // allocated data; the rest are holes (zeros)
  };
  struct VerifyResult {
    bool ok = true;
    std::string first_bad;  // "ram region 0 run 12 (file offset 65536, 4096 bytes): checksum mismatch"
  };

  Image() = default;
  Image(Image&&) noexcept = default;
  Image& operator=(Image&&) noexcept = default;

  // Reads and validates the header, the metadata checksum and every bound.
  static Image open(const std::string& path);

  const std::string& path() const { return path_; }
  const ImageInfo& info() const { return info_; }
  const StateNode& machine() const { return machine_; }
  const std::vector<RamRegion>& ram_regions() const { return ram_; }
  const std::vector<Disk>& disks() const { return disks_; }
  int fd() const { return fd_.get(); }

  // Guest memory for region i, read-write and private to the caller.
  // raw: one mmap(MAP_PRIVATE) of the file range; lazy, copy-on-write, page
  // cache shared between clones, O(1) in the region size.
  // zstd: anonymous memory filled by decompressing the frames in parallel
  // (each frame's checksums are checked).
  // Refuses when the image's RAM, all regions together, exceeds `host_bytes`
  // (default: this host's RAM plus swap, host_memory_bytes()): a small
  // hostile image must not make a resume commit more than the host has.
  // raw: every run is read once and compared with its checksum before the
  // mapping is returned (the guest would otherwise read unchecked bytes),
  // unless `check_records` (below) proves this file was checked before.
  // `at`: map exactly there (MAP_FIXED over a warm VM's reserved range,
  // src/vmm/warm_vm.h), which must be region i's size; null: anywhere.
  Mapping map_ram(size_t i, unsigned threads = 0, uint64_t host_bytes = 0, void* at = nullptr) const;
  // map_ram's checks without the mapping (lazy_ram.h maps zstd regions
  // itself): region i exists, all the image's RAM fits `host_bytes`, the
  // file still holds the region. Returns the file's stat.
  struct stat check_ram_mappable(size_t i, uint64_t host_bytes = 0) const;

  // Where map_ram looks up and notes files whose runs all matched
  // (checked_images.h). Default: none, every map_ram checks every run.
  void use_check_records(CheckedImages records) { check_records_ = std::move(records); }
  const CheckedImages& check_records() const { return check_records_; }
  // Runs map_ram compared with their checksums so far (0 when a record
  // vouched for the file): for tests and --timings.
  uint64_t runs_checked() const { return runs_checked_; }
  // File holes map_ram read to prove them zero (the file allocates blocks
  // amber did not write, and no check record vouches for it).
  uint64_t holes_checked() const { return holes_checked_; }
  // The file's identity now (fstat): what a check record is keyed by.
  FileIdentity identity() const;

  // Guest bytes [offset, offset + out.size()) of RAM region i, read from the
  // file without mapping it (amber dump): every run or zstd chunk that
  // overlaps them is read whole and checked against its checksums; holes
  // and omitted chunks read as zero. Error beyond the region's size.
  void read_ram(size_t i, uint64_t offset, std::span<uint8_t> out) const;

  // Bytes [offset, offset + out.size()) of embedded disk i, read from the
  // file through its extent table: every extent that overlaps them is read
  // whole and checked against its checksum; holes read as zero without
  // touching the file. Error beyond the disk's size.
  void read_disk(size_t i, uint64_t offset, std::span<uint8_t> out) const;

  // Reads every checksummed byte of the file again, proves every other byte
  // of the header page and of each section zero (holes, padding), and names
  // the first bad one.
  VerifyResult verify() const;

  // Human (json=false) or machine (json=true) description for `amber inspect`.
  std::string describe(bool json) const;

 private:
  friend struct ImageParser;
  // A byte range of the file that a checksum covers, and what it is.
  struct Covered {
    uint64_t from, to;
    std::string what;
  };
  void check_zero_gaps(uint64_t end, std::vector<Covered> data, std::vector<uint8_t>& buf) const;
  // The bytes a file written by amber allocates in 4 KiB blocks: the header
  // block, the metadata, every run, frame and extent, rounded to blocks
  // (packed disk extents may share a block: each block counts once).
  uint64_t written_block_bytes() const;
  // Compares region i's runs with their checksums through the mapping and
  // records the file once every raw region passed; map_ram skips it when a
  // check record already vouches for the file.
  void check_runs(const Mapping& m, size_t i, const struct stat& st, unsigned threads) const;
  CheckedImages check_records_;
  mutable uint64_t runs_checked_ = 0;
  mutable uint64_t holes_checked_ = 0;
  mutable std::vector<bool> regions_checked_;
  std::string path_;
  UniqueFd fd_;
  uint64_t file_size_ = 0;
  uint64_t header_size_ = 0;
  uint64_t metadata_offset_ = 0, metadata_size_ = 0, metadata_xxh3_ = 0;
  ImageInfo info_;
  StateNode machine_;
  std::vector<RamRegion> ram_;
  std::vector<Disk> disks_;
};

}  // namespace amber::image
