// Image::open (validation of an untrusted file) and Image::map_ram.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>

#include <fmt/core.h>

#include "amber/error.h"
#include "snapshot/image.h"
#include "snapshot/image_format.h"
#include "snapshot/image_metadata.h"
#include "snapshot/parallel.h"
#include "snapshot/chunk_decoder.h"
#include "snapshot/read_at.h"

namespace amber::image {

// Checks every number parsed from the metadata against the file and the
// caps, so map_ram/verify/the VMM can use them without further checks.
struct ImageParser {
  const std::string& file;
  uint64_t file_size;

  [[noreturn]] void fail(const std::string& what) const { throw Error(fmt::format("{}: {}", file, what)); }

  // [off, off+len) lies within the file; names `what` otherwise.
  void inside(uint64_t off, uint64_t len, const std::string& what) const {
    if (off > file_size || len > file_size - off) {
      if (off > (1ull << 62) || len > (1ull << 62)) fail(fmt::format("{}: offset {} size {} out of range", what, off, len));
      fail(fmt::format("truncated: {} ends at {}, file has {} bytes", what, off + len, file_size));
    }
  }

  template <class E>
  void extents(const std::vector<E>& v, uint64_t size, bool pages, const std::string& what,
               const char* kind) const {
    uint64_t end = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      auto& e = v[i];
      auto name = fmt::format("{} {} {}", what, kind, i);
      if (e.length == 0 || e.length > kPieceMax) fail(fmt::format("{}: length {} outside 1..{}", name, e.length, kPieceMax));
      if (pages && (e.offset % kPageSize || e.length % kPageSize)) fail(name + ": not page aligned");
      if (e.offset < end) fail(fmt::format("{}: offset {} overlaps or precedes the previous one", name, e.offset));
      if (e.offset > size || e.length > size - e.offset)
        fail(fmt::format("{}: ends at {}, beyond the size {}", name, e.offset + e.length, size));
      end = e.offset + e.length;
    }
  }

  void region(const Image::RamRegion& r, size_t i) const {
    auto what = fmt::format("RAM region {}", i);
    if (r.size == 0 || r.size % kPageSize || r.size > kMaxRegionSize)
      fail(fmt::format("{}: size {} is not a page multiple in 1..{}", what, r.size, kMaxRegionSize));
    if (r.gpa % kPageSize || r.gpa > (1ull << 52) - r.size)
      fail(fmt::format("{}: bad guest address {:#x}", what, r.gpa));
    if (r.file_offset % kPageSize || r.file_offset < kDataStart)
      fail(fmt::format("{}: file offset {} is not page aligned after the header", what, r.file_offset));
    if (!r.compressed()) {
      if (r.stored_size != r.size) fail(fmt::format("{}: stored size {} != size {}", what, r.stored_size, r.size));
      inside(r.file_offset, r.size, what);
      extents(r.runs, r.size, true, what, "run");
      return;
    }
    if (r.chunk_size < kMinChunkSize || r.chunk_size > kMaxChunkSize || (r.chunk_size & (r.chunk_size - 1)))
      fail(fmt::format("{}: chunk size {} is not a power of two in {}..{}", what, r.chunk_size, kMinChunkSize,
                       kMaxChunkSize));
    inside(r.file_offset, r.stored_size, what);
    uint64_t next = 0;
    std::vector<std::pair<uint64_t, uint64_t>> frames;
    for (size_t j = 0; j < r.chunks.size(); ++j) {
      auto& c = r.chunks[j];
      auto name = fmt::format("{} chunk {}", what, j);
      if (c.offset % r.chunk_size || c.offset < next || c.offset >= r.size)
        fail(fmt::format("{}: guest offset {} misaligned, out of order or beyond {}", name, c.offset, r.size));
      if (c.length != std::min(r.chunk_size, r.size - c.offset))
        fail(fmt::format("{}: length {} should be {}", name, c.length, std::min(r.chunk_size, r.size - c.offset)));
      if (c.frame_size == 0 || c.frame_size > ZSTD_compressBound(r.chunk_size))
        fail(fmt::format("{}: frame size {} out of range", name, c.frame_size));
      if (c.frame_offset > r.stored_size || c.frame_size > r.stored_size - c.frame_offset)
        fail(fmt::format("{}: frame at {} (+{}) beyond the stored size {}", name, c.frame_offset, c.frame_size,
                         r.stored_size));
      next = c.offset + c.length;
      frames.emplace_back(c.frame_offset, c.frame_size);
    }
    std::sort(frames.begin(), frames.end());
    for (size_t j = 1; j < frames.size(); ++j)
      if (frames[j].first < frames[j - 1].first + frames[j - 1].second)
        fail(fmt::format("{}: frames at {} and {} overlap", what, frames[j - 1].first, frames[j].first));
  }

  void disk(const Image::Disk& d, size_t i, uint32_t incompat) const {
    auto what = fmt::format("disk {} ('{}')", i, d.name);
    if (d.size > kMaxDiskSize) fail(fmt::format("{}: size {} above {}", what, d.size, kMaxDiskSize));
    if (d.file_offset % kPageSize || d.file_offset < kDataStart)
      fail(fmt::format("{}: file offset {} is not page aligned after the header", what, d.file_offset));
    extents(d.extents, d.size, false, what, "extent");
    if (!d.packed) {
      inside(d.file_offset, d.size, what);  // stored == offset (set by the parser)
      return;
    }
    // A 1.0 reader would read a packed disk at its disk offsets: an image
    // with one must carry the bit that makes such a reader refuse it.
    if (!(incompat & kIncompatPackedDisks)) fail(what + ": packed layout without the packed-disks incompat flag");
    if (d.stored_size > kMaxDiskSize) fail(fmt::format("{}: stored size {} above {}", what, d.stored_size, kMaxDiskSize));
    inside(d.file_offset, d.stored_size, what);
    // Stored ranges follow the disk order and do not overlap: then a byte of
    // the section belongs to at most one extent, and verify's walk is linear.
    uint64_t end = 0;
    for (size_t j = 0; j < d.extents.size(); ++j) {
      auto& e = d.extents[j];
      if (e.stored < end || e.stored > d.stored_size || e.length > d.stored_size - e.stored)
        fail(fmt::format("{} extent {}: stored at {} (+{}): overlaps the previous one or lies beyond the stored size {}",
                         what, j, e.stored, e.length, d.stored_size));
      end = e.stored + e.length;
    }
  }

  // No two sections (header page, regions, disks, metadata) share a byte, and
  // no two regions share a guest address.
  void layout(const Image& img, uint64_t meta_off, uint64_t meta_size) const {
    struct Span {
      uint64_t begin, end;
      std::string name;
    };
    std::vector<Span> spans{{0, kDataStart, "header"}, {meta_off, meta_off + meta_size, "metadata"}};
    for (size_t i = 0; i < img.ram_.size(); ++i) {
      auto& r = img.ram_[i];
      spans.push_back({r.file_offset, r.file_offset + r.stored_size, fmt::format("RAM region {}", i)});
    }
    for (size_t i = 0; i < img.disks_.size(); ++i) {
      auto& d = img.disks_[i];
      spans.push_back({d.file_offset, d.file_offset + d.stored_size, fmt::format("disk {}", i)});
    }
    std::sort(spans.begin(), spans.end(), [](auto& a, auto& b) { return a.begin < b.begin; });
    size_t reach = 0;  // the span reaching furthest so far
    for (size_t i = 1; i < spans.size(); ++i) {
      if (spans[i].end == spans[i].begin) continue;  // an empty disk occupies nothing
      if (spans[i].begin < spans[reach].end)
        fail(fmt::format("{} overlaps {} in the file", spans[reach].name, spans[i].name));
      reach = i;
    }
    std::vector<std::pair<uint64_t, uint64_t>> gpas;
    for (auto& r : img.ram_) gpas.emplace_back(r.gpa, r.gpa + r.size);
    std::sort(gpas.begin(), gpas.end());
    for (size_t i = 1; i < gpas.size(); ++i)
      if (gpas[i].first < gpas[i - 1].second) fail(fmt::format("RAM regions overlap at guest address {:#x}", gpas[i].first));
  }
};

Image Image::open(const std::string& path) {
  Image img;
  img.path_ = path;
  img.fd_.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!img.fd_) throw SysError(fmt::format("{}: open", path), errno);
  struct stat st {};
  if (::fstat(img.fd_.get(), &st) < 0) throw SysError(fmt::format("{}: stat", path), errno);
  if (!S_ISREG(st.st_mode)) throw Error(fmt::format("{}: not a regular file", path));
  img.file_size_ = static_cast<uint64_t>(st.st_size);

  std::vector<uint8_t> head(std::min<uint64_t>(img.file_size_, kHeaderMaxSize));
  read_at(img.fd_.get(), head.data(), head.size(), 0, path, "header");
  Header h = decode_header(head, path);
  img.header_size_ = h.header_size;
  img.info_.major = h.major;
  img.info_.minor = h.minor;
  img.info_.incompat = h.incompat;
  img.info_.compat = h.compat;
  ImageParser check{path, img.file_size_};
  check.inside(h.metadata_offset, h.metadata_size, "metadata");

  std::vector<uint8_t> meta(h.metadata_size);
  read_at(img.fd_.get(), meta.data(), meta.size(), h.metadata_offset, path, "metadata");
  uint64_t sum = xxh3(meta.data(), meta.size());
  if (sum != h.metadata_xxh3 && kCheckMetaChecksums)
    throw Error(fmt::format("{}: metadata: checksum mismatch (stored {:016x}, computed {:016x})", path,
                            h.metadata_xxh3, sum));
  img.metadata_offset_ = h.metadata_offset;
  img.metadata_size_ = h.metadata_size;
  img.metadata_xxh3_ = h.metadata_xxh3;

  Metadata m = parse_metadata(meta, path);
  img.info_.writer = std::move(m.info.writer);
  img.info_.created_unix = m.info.created_unix;
  img.info_.cmdline = std::move(m.info.cmdline);
  img.info_.note = std::move(m.info.note);
  img.machine_ = std::move(m.machine);
  img.ram_ = std::move(m.ram);
  img.disks_ = std::move(m.disks);
  for (size_t i = 0; i < img.ram_.size(); ++i) check.region(img.ram_[i], i);
  for (size_t i = 0; i < img.disks_.size(); ++i) check.disk(img.disks_[i], i, h.incompat);
  check.layout(img, h.metadata_offset, h.metadata_size);
  return img;
}

namespace {

// Holes of at least kAnonHoleMin in a raw RAM region are mapped anonymously
// over the file mapping. A read fault there then maps the kernel's shared
// zero page, where a file mapping would allocate a page-cache page for the
// hole (on tmpfs, shmem_fault even adds that page to the image file). The
// cap bounds the mmap calls (and VMAs) a fragmented image can cost a resume.
constexpr uint64_t kAnonHoleMin = 2ull << 20;
constexpr size_t kMaxAnonHoles = 256;

// Returns the holes left mapped from the file (the small ones, and any past
// the cap), as [from, to) offsets in the region.
std::vector<Extent> map_holes_anonymously(const Mapping& m, const std::vector<CheckedExtent>& runs, uint64_t size) {
  size_t mapped = 0;
  std::vector<Extent> file_holes;
  auto hole = [&](uint64_t from, uint64_t to) {
    if (to == from) return;
    if (to - from < kAnonHoleMin || mapped == kMaxAnonHoles) {
      file_holes.push_back({from, to - from});
      return;
    }
    void* p = ::mmap(m.data() + from, to - from, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED) throw SysError(fmt::format("mmap {} bytes over a RAM hole", to - from), errno);
    ++mapped;
  };
  uint64_t pos = 0;  // runs are sorted and disjoint (checked at open)
  for (auto& e : runs) {
    hole(pos, e.offset);
    pos = e.offset + e.length;
  }
  hole(pos, size);
  return file_holes;
}

}  // namespace

uint64_t Image::written_block_bytes() const {
  auto blocks = [](uint64_t len) { return (len + kPageSize - 1) / kPageSize * kPageSize; };
  uint64_t n = kPageSize + blocks(metadata_size_);  // header block, metadata (page aligned)
  for (auto& r : ram_) {
    for (auto& run : r.runs) n += blocks(run.length);  // page aligned, page multiples
    uint64_t frames = 0;  // appended back to back from the region's start
    for (auto& c : r.chunks) frames += c.frame_size;
    n += blocks(frames);
  }
  for (auto& d : disks_) {
    // Extents are sorted by stored offset (checked at open); packed ones
    // may share a block with their neighbour: count each block once.
    uint64_t counted_to = 0;  // file offset up to which blocks are counted
    for (auto& e : d.extents) {
      uint64_t from = (d.file_offset + e.stored) / kPageSize * kPageSize;
      uint64_t to = round_up_page(d.file_offset + e.stored + e.length);
      from = std::max(from, counted_to);
      if (to > from) n += to - from;
      counted_to = std::max(counted_to, to);
    }
  }
  return n;
}

uint64_t host_memory_bytes() {
  struct sysinfo si {};
  if (::sysinfo(&si) < 0) throw SysError("sysinfo", errno);
  return (static_cast<uint64_t>(si.totalram) + si.totalswap) * si.mem_unit;
}

struct stat Image::check_ram_mappable(size_t i, uint64_t host_bytes) const {
  if (i >= ram_.size()) throw Error(fmt::format("{}: no RAM region {} (image has {})", path_, i, ram_.size()));
  auto& r = ram_[i];
  uint64_t declared = 0;
  for (auto& region : ram_) declared += region.size;  // each <= kMaxRegionSize, at most kMaxRegions
  if (!host_bytes) host_bytes = host_memory_bytes();
  if (declared > host_bytes)
    throw Error(fmt::format("{}: the image's guest has {} MiB of RAM; this host has {} MiB of RAM and swap", path_,
                            declared >> 20, host_bytes >> 20));
  // The file may have been cut since open(); touching a mapped page past EOF
  // would be SIGBUS in the vCPU, so check now.
  struct stat st {};
  if (::fstat(fd_.get(), &st) < 0) throw SysError(fmt::format("{}: stat", path_), errno);
  if (static_cast<uint64_t>(st.st_size) < r.file_offset + r.stored_size)
    throw Error(fmt::format("{}: truncated: RAM region {} ends at {}, file has {} bytes", path_, i,
                            r.file_offset + r.stored_size, st.st_size));
  return st;
}

Mapping Image::map_ram(size_t i, unsigned threads, uint64_t host_bytes, void* at) const {
  struct stat st = check_ram_mappable(i, host_bytes);
  auto& r = ram_[i];
  if (!r.compressed()) {
    Mapping m = Mapping::file(fd_.get(), r.size, static_cast<off_t>(r.file_offset), PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_NORESERVE, at);
    // What the guest reads in a hole still mapped from the file must be
    // zero, which no checksum says: prove it (issue 11: a byte flipped in a
    // small RAM hole reached the guest). When the file allocates exactly the
    // blocks amber wrote, no hole holds an allocated block, so every hole
    // reads as zero (one fstat). Otherwise (a non-sparse copy, a file system
    // that counts blocks otherwise, or an edited file): one SEEK_DATA per
    // hole, and allocated blocks are read. A check record vouches for the
    // holes too: it was made after they were proven zero, and any write to
    // the file since would have changed its ctime. What it spares: on tmpfs
    // a guest's first touch of a hole still mapped from the file adds a page
    // to the file, so every clone after the first would read its holes.
    auto file_holes = map_holes_anonymously(m, r.runs, r.size);
    const bool vouched = check_records_.contains(FileIdentity::of(st, metadata_xxh3_));
    if (!vouched && static_cast<uint64_t>(st.st_blocks) * 512 != written_block_bytes()) {
      std::vector<uint8_t> buf;
      for (auto& h : file_holes) {
        ++holes_checked_;
        try {
          check_zero_gap(*this, r.file_offset + h.offset, r.file_offset + h.end(), fmt::format("RAM region {}", i), buf);
        } catch (const Error& e) {
          throw Error(fmt::format("{}: {}: the image was changed after it was written (amber verify)", path_, e.what()));
        }
      }
    }
    if (!vouched) check_runs(m, i, st, threads);
    return m;
  }

  Mapping mem = Mapping::anonymous(r.size, MAP_NORESERVE, at);
  unsigned workers = worker_count(threads, r.chunks.size());
  std::vector<ChunkDecoder> dec(workers);
  parallel_for(r.chunks.size(), workers, [&](size_t j, unsigned w) {
    dec[w].decode(*this, i, j, mem.data() + r.chunks[j].offset);
  });
  return mem;
}

// The runs are mapped, not read, so without this the guest would read bytes
// no checksum was compared with (issue 11: a flipped run byte reached the
// resumed guest). Reading them through the mapping costs one pass over the
// data (xxh3, in parallel) and leaves the pages in the page cache, where
// the guest's first touches find them. A check record (checked_images.h)
// proves an unchanged file and skips the pass: clones of one image check
// it once.
FileIdentity Image::identity() const {
  struct stat st {};
  if (::fstat(fd_.get(), &st) < 0) throw SysError(fmt::format("{}: stat", path_), errno);
  return FileIdentity::of(st, metadata_xxh3_);
}

void Image::check_runs(const Mapping& m, size_t i, const struct stat& st, unsigned threads) const {
  auto id = FileIdentity::of(st, metadata_xxh3_);
  auto& r = ram_[i];
  std::vector<uint8_t> bad(r.runs.size(), 0);
  parallel_for(r.runs.size(), worker_count(threads, r.runs.size()), [&](size_t j, unsigned) {
    const uint8_t* p = m.data() + r.runs[j].offset;
    populate_for_read(p, r.runs[j].length);  // one call, not a fault per page
    bad[j] = xxh3(p, r.runs[j].length) != r.runs[j].xxh3;
  });
  runs_checked_ += r.runs.size();
  for (size_t j = 0; j < r.runs.size(); ++j)
    if (bad[j])
      throw Error(fmt::format("{}: RAM region {} run {} (file offset {}, {} bytes): checksum mismatch: the image was "
                              "changed after it was written (amber verify)",
                              path_, i, j, r.file_offset + r.runs[j].offset, r.runs[j].length));
  // Every raw region checked in this process: the file as it is now is good.
  regions_checked_.resize(ram_.size());
  regions_checked_[i] = true;
  for (size_t k = 0; k < ram_.size(); ++k)
    if (!ram_[k].compressed() && !regions_checked_[k]) return;
  check_records_.add(id);
}

void Image::read_ram(size_t i, uint64_t offset, std::span<uint8_t> out) const {
  if (i >= ram_.size()) throw Error(fmt::format("{}: no RAM region {} (image has {})", path_, i, ram_.size()));
  auto& r = ram_[i];
  if (offset > r.size || out.size() > r.size - offset)
    throw Error(fmt::format("{}: RAM region {}: bytes [{}, +{}) lie beyond its size {}", path_, i, offset, out.size(),
                            r.size));
  std::fill(out.begin(), out.end(), 0);
  const uint64_t end = offset + out.size();
  // Copies the piece's bytes [from, to) (guest offsets within the region)
  // that overlap the request.
  auto copy = [&](const uint8_t* piece, uint64_t from, uint64_t to) {
    uint64_t a = std::max(from, offset), b = std::min(to, end);
    if (a < b) std::memcpy(out.data() + (a - offset), piece + (a - from), b - a);
  };
  std::vector<uint8_t> buf;
  if (!r.compressed()) {
    // Runs are sorted and disjoint (checked at open): start at the first
    // one that ends after `offset`.
    auto it = std::upper_bound(r.runs.begin(), r.runs.end(), offset,
                               [](uint64_t off, const CheckedExtent& e) { return off < e.end(); });
    for (; it != r.runs.end() && it->offset < end; ++it) {
      auto what = fmt::format("RAM region {} run {}", i, it - r.runs.begin());
      bool inside = it->offset >= offset && it->end() <= end;  // then read in place
      if (!inside) buf.resize(it->length);
      uint8_t* dst = inside ? out.data() + (it->offset - offset) : buf.data();
      read_at(fd_.get(), dst, it->length, r.file_offset + it->offset, path_, what);
      if (xxh3(dst, it->length) != it->xxh3)
        throw Error(fmt::format("{}: {} (file offset {}, {} bytes): checksum mismatch", path_, what,
                                r.file_offset + it->offset, it->length));
      if (!inside) copy(buf.data(), it->offset, it->end());
    }
    return;
  }
  ChunkDecoder dec;
  // Chunks are sorted by guest offset (checked at open).
  auto first = std::partition_point(r.chunks.begin(), r.chunks.end(),
                                    [&](const Chunk& c) { return c.offset + c.length <= offset; });
  for (size_t j = static_cast<size_t>(first - r.chunks.begin()); j < r.chunks.size(); ++j) {
    auto& c = r.chunks[j];
    if (c.offset >= end) break;
    if (c.offset >= offset && c.offset + c.length <= end) {
      dec.decode(*this, i, j, out.data() + (c.offset - offset));  // wholly inside: no copy
      continue;
    }
    buf.resize(c.length);
    dec.decode(*this, i, j, buf.data());
    copy(buf.data(), c.offset, c.offset + c.length);
  }
}

void Image::read_disk(size_t i, uint64_t offset, std::span<uint8_t> out) const {
  if (i >= disks_.size()) throw Error(fmt::format("{}: no disk {} (image has {})", path_, i, disks_.size()));
  auto& d = disks_[i];
  if (offset > d.size || out.size() > d.size - offset)
    throw Error(fmt::format("{}: disk {}: bytes [{}, +{}) lie beyond its size {}", path_, i, offset, out.size(), d.size));
  std::fill(out.begin(), out.end(), 0);
  const uint64_t end = offset + out.size();
  std::vector<uint8_t> buf;
  // Extents are sorted and disjoint (checked at open).
  auto it = std::upper_bound(d.extents.begin(), d.extents.end(), offset,
                             [](uint64_t off, const DiskExtent& e) { return off < e.end(); });
  for (; it != d.extents.end() && it->offset < end; ++it) {
    auto what = fmt::format("disk {} ('{}') extent {}", i, d.name, it - d.extents.begin());
    buf.resize(it->length);
    read_at(fd_.get(), buf.data(), it->length, d.file_offset + it->stored, path_, what);
    if (xxh3(buf.data(), it->length) != it->xxh3)
      throw Error(fmt::format("{}: {} (file offset {}, {} bytes): checksum mismatch", path_, what,
                              d.file_offset + it->stored, it->length));
    uint64_t a = std::max(it->offset, offset), b = std::min(it->end(), end);
    std::memcpy(out.data() + (a - offset), buf.data() + (a - it->offset), b - a);
  }
}

}  // namespace amber::image
