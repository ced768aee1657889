// write_image: lays out sections, writes RAM and disks in parallel, then the
// metadata and finally the header (docs/image-format.md, "Writing").
#include <sys/stat.h>
#include <zstd.h>

#include <chrono>
#include <ctime>
#include <mutex>

#include <fmt/core.h>

#include "amber/error.h"
#include "snapshot/atomic_file.h"
#include "snapshot/image.h"
#include "snapshot/image_format.h"
#include "snapshot/image_metadata.h"
#include "snapshot/parallel.h"
#include "snapshot/zero_scan.h"

#ifndef AMBER_VERSION
#define AMBER_VERSION "unknown"
#endif

namespace amber::image {

namespace {

// Serializes progress callbacks from worker threads.
class Progress {
 public:
  Progress(const SaveOptions& opt, uint64_t total) : fn_(opt.progress), total_(total) {}
  void add(uint64_t n) {
    if (!fn_) return;
    std::lock_guard lock(mu_);
    done_ += n;
    fn_(done_, total_);
  }

 private:
  const std::function<void(uint64_t, uint64_t)>& fn_;
  std::mutex mu_;
  uint64_t done_ = 0, total_;
};

void check_input(const std::string& path, const SaveInput& in) {
  if (in.ram.size() > kMaxRegions) throw Error(fmt::format("{}: {} RAM regions, at most {}", path, in.ram.size(), kMaxRegions));
  if (in.disks.size() > kMaxDisks) throw Error(fmt::format("{}: {} disks, at most {}", path, in.disks.size(), kMaxDisks));
  for (size_t i = 0; i < in.ram.size(); ++i) {
    auto& r = in.ram[i];
    // The same rules the reader enforces: never write an image we would refuse.
    if (r.host.empty() || r.host.size() % kPageSize || r.host.size() > kMaxRegionSize)
      throw Error(fmt::format("{}: RAM region {} size {} is not a page multiple up to {}", path, i, r.host.size(),
                              kMaxRegionSize));
    if (reinterpret_cast<uintptr_t>(r.host.data()) % kPageSize)
      throw Error(fmt::format("{}: RAM region {} is not page aligned in memory", path, i));
    if (r.gpa % kPageSize || r.gpa > (1ull << 52) - r.host.size())
      throw Error(fmt::format("{}: RAM region {} has a bad guest address {:#x}", path, i, r.gpa));
    for (size_t j = 0; j < i; ++j)
      if (r.gpa < in.ram[j].gpa + in.ram[j].host.size() && in.ram[j].gpa < r.gpa + r.host.size())
        throw Error(fmt::format("{}: RAM regions {} and {} overlap in guest memory", path, j, i));
  }
  for (auto& d : in.disks) {
    if (d.size > kMaxDiskSize) throw Error(fmt::format("{}: disk '{}' size {} above {}", path, d.name, d.size, kMaxDiskSize));
    if (!d.read && !d.extents.empty()) throw Error(fmt::format("{}: disk '{}' has no read function", path, d.name));
    uint64_t end = 0;
    for (size_t j = 0; j < d.extents.size(); ++j) {
      auto [off, len] = d.extents[j];
      if (off < end || len > d.size || off > d.size - len)
        throw Error(fmt::format("{}: disk '{}' extent {} ({}, {}) overlaps its predecessor or lies outside {} bytes",
                                path, d.name, j, off, len, d.size));
      end = off + len;
    }
  }
}

struct Writer {
  const SaveInput& in;
  const SaveOptions& opt;
  AtomicFile& file;
  Progress& progress;
  SaveStats& stats;
  uint64_t cursor = kDataStart;

  Image::RamRegion write_raw(const RamRegionIn& r) {
    Image::RamRegion out{.gpa = r.gpa, .size = r.host.size(), .file_offset = cursor, .stored_size = r.host.size()};
    cursor += r.host.size();
    std::vector<uint8_t> populated;
    if (r.private_anonymous) populated = populated_pages(r.host.data(), r.host.size() / kPageSize);
    // 4 MiB slices: the unit of parallel work and the cap of one run's checksum.
    size_t slices = (r.host.size() + kPieceMax - 1) / kPieceMax;
    std::vector<std::vector<CheckedExtent>> found(slices);
    // Writes into one file serialize on its inode lock in the kernel (shmem,
    // ext4 and XFS buffered writes all take it exclusively), where a waiting
    // writer spins. So the workers scan and checksum a slice in parallel and
    // then write its runs one worker at a time: a waiter sleeps instead of
    // spinning, the next slice's scan overlaps this one's copy, and a
    // background save leaves the guest the CPU it would have burnt.
    std::mutex write_mu;
    parallel_for(slices, worker_count(opt.threads, slices), [&](size_t s, unsigned) {
      uint64_t base = s * kPieceMax, len = std::min<uint64_t>(kPieceMax, r.host.size() - base);
      std::vector<uint8_t> pop;
      if (!populated.empty())
        pop.assign(populated.begin() + base / kPageSize, populated.begin() + (base + len) / kPageSize);
      for_each_nonzero_run(r.host.data() + base, len, pop, [&](uint64_t off, uint64_t n) {
        found[s].push_back({base + off, n, xxh3(r.host.data() + base + off, n)});
      });
      std::lock_guard lock(write_mu);
      for (auto& run : found[s]) file.write_at(out.file_offset + run.offset, {r.host.data() + run.offset, run.length});
      progress.add(len);
    });
    for (auto& f : found) out.runs.insert(out.runs.end(), f.begin(), f.end());
    return out;
  }

  Image::RamRegion write_zstd(const RamRegionIn& r) {
    Image::RamRegion out{.gpa = r.gpa, .size = r.host.size(), .file_offset = cursor, .codec = Codec::kZstd,
                         .chunk_size = kChunkSize};
    std::vector<uint8_t> populated;
    if (r.private_anonymous) populated = populated_pages(r.host.data(), r.host.size() / kPageSize);
    size_t nchunks = (r.host.size() + kChunkSize - 1) / kChunkSize;
    std::vector<std::optional<Chunk>> chunks(nchunks);
    std::atomic<uint64_t> next_frame{0};
    unsigned workers = worker_count(opt.threads, nchunks);
    std::vector<ZSTD_CCtx*> cctx(workers, nullptr);
    std::vector<std::vector<uint8_t>> bufs(workers);
    auto cleanup = [&] {
      for (auto* c : cctx) ZSTD_freeCCtx(c);
    };
    try {
      parallel_for(nchunks, workers, [&](size_t i, unsigned w) {
        uint64_t off = i * kChunkSize, len = std::min<uint64_t>(kChunkSize, r.host.size() - off);
        const uint8_t* p = r.host.data() + off;
        bool any = populated.empty();
        for (uint64_t pg = off / kPageSize; !any && pg < (off + len) / kPageSize; ++pg) any = populated[pg];
        if (!any || is_zero(p, len)) {
          progress.add(len);
          return;
        }
        if (!cctx[w] && !(cctx[w] = ZSTD_createCCtx())) throw Error("zstd: out of memory");
        bufs[w].resize(ZSTD_compressBound(kChunkSize));
        size_t n = ZSTD_compressCCtx(cctx[w], bufs[w].data(), bufs[w].size(), p, len, opt.level);
        if (ZSTD_isError(n))
          throw Error(fmt::format("{}: zstd compress of RAM chunk at {:#x}: {}", file.path(), r.gpa + off,
                                  ZSTD_getErrorName(n)));
        // Frames land in completion order; the table records where each went.
        uint64_t at = next_frame.fetch_add(n);
        file.write_at(out.file_offset + at, {bufs[w].data(), n});
        chunks[i] = Chunk{off, len, at, n, xxh3(p, len), xxh3(bufs[w].data(), n)};
        progress.add(len);
      });
    } catch (...) {
      cleanup();
      throw;
    }
    cleanup();
    for (auto& c : chunks)
      if (c) out.chunks.push_back(*c);
    out.stored_size = next_frame.load();
    cursor += round_up_page(out.stored_size);
    return out;
  }

  // Where the next extent, at disk offset `at`, goes in the packed section
  // (relative to its start). Extents are packed in disk order, each at the
  // same offset within a page as on the disk, so a page of the disk is one
  // page of the file (reads stay page-aligned in the page cache). An extent
  // less than a page after the previous one keeps the gap, so that two
  // extents in one disk page share one file page; the gap bytes are never
  // written (zero, and verify proves them so).
  static uint64_t packed_offset(const Image::Disk& out, uint64_t at) {
    if (!out.extents.empty()) {
      auto& prev = out.extents.back();
      if (at - prev.end() < kPageSize) return prev.stored + (at - prev.offset);
    }
    return round_up_page(out.stored_size) + at % kPageSize;
  }

  // Stores the non-zero parts of `buf` (disk bytes at `off`) as extents.
  // Blocks split at the disk's page boundaries: a zero block reads the same as
  // a hole, so it is left out (allocated-but-zero blocks are common in images).
  void store_nonzero(Image::Disk& out, uint64_t off, std::span<const uint8_t> buf) {
    uint64_t run_start = 0, pos = 0;
    bool in_run = false;
    auto flush = [&](uint64_t end) {
      auto piece = buf.subspan(run_start, end - run_start);
      uint64_t at = off + run_start, stored = packed_offset(out, at);
      out.extents.push_back({{{at, piece.size()}, xxh3(piece.data(), piece.size())}, stored});
      out.stored_size = stored + piece.size();
      file.write_at(out.file_offset + stored, piece);
      stats.disk_data_bytes += piece.size();
    };
    while (pos < buf.size()) {
      uint64_t next = std::min<uint64_t>(buf.size(), (off + pos) / kPageSize * kPageSize + kPageSize - off);
      bool data = !is_zero(buf.data() + pos, next - pos);
      if (data && !in_run) {
        run_start = pos;
        in_run = true;
      } else if (!data && in_run) {
        flush(pos);
        in_run = false;
      }
      pos = next;
    }
    if (in_run) flush(pos);
  }

  // The 1.1 packed layout: the section holds only the data, so a sparse
  // 10 GiB disk with 16 MiB of data costs ~16 MiB of apparent file size
  // (a non-sparse copy, scp or HTTP, moves that), not 10 GiB of holes.
  Image::Disk write_disk(const DiskIn& d) {
    Image::Disk out{.name = d.name, .id = d.id, .read_only = d.read_only, .size = d.size, .file_offset = cursor,
                    .packed = true};
    std::vector<uint8_t> buf;
    for (auto [off, len] : d.extents) {
      for (uint64_t done = 0; done < len;) {
        uint64_t n = std::min(kPieceMax, len - done);
        buf.resize(n);
        if (!d.read(off + done, buf))
          throw Error(fmt::format("{}: reading disk '{}' at offset {} ({} bytes) failed", file.path(), d.name,
                                  off + done, n));
        store_nonzero(out, off + done, buf);
        progress.add(n);
        done += n;
      }
    }
    cursor += round_up_page(out.stored_size);
    return out;
  }
};

}  // namespace

SaveStats write_image(const std::string& path, const SaveInput& in, const SaveOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  check_input(path, in);
  if (opt.compress && (opt.level < ZSTD_minCLevel() || opt.level > ZSTD_maxCLevel()))
    throw Error(fmt::format("{}: zstd level {} outside {}..{}", path, opt.level, ZSTD_minCLevel(), ZSTD_maxCLevel()));
  uint64_t total = 0;
  for (auto& r : in.ram) total += r.host.size();
  for (auto& d : in.disks)
    for (auto& e : d.extents) total += e.length;

  AtomicFile file(path);
  SaveStats stats;
  Progress progress(opt, total);
  Writer w{in, opt, file, progress, stats};
  std::vector<Image::RamRegion> ram;
  std::vector<Image::Disk> disks;
  for (auto& r : in.ram) {
    auto& region = ram.emplace_back(opt.compress ? w.write_zstd(r) : w.write_raw(r));
    uint64_t data = 0, stored = 0;
    for (auto& e : region.runs) {
      data += e.length;
      stored += e.length;
    }
    for (auto& c : region.chunks) {
      data += c.length;
      stored += c.frame_size;
    }
    stats.ram_data_bytes += data;
    stats.ram_zero_bytes += region.size - data;
    stats.ram_stored_bytes += stored;
  }
  for (auto& d : in.disks) disks.push_back(w.write_disk(d));

  // Only an image with a packed disk needs the incompat bit: one without
  // disks stays readable by a 1.0 reader.
  ImageInfo info{.major = kFormatMajor, .minor = kFormatMinor, .incompat = disks.empty() ? 0 : kIncompatPackedDisks,
                 .writer = "amber " AMBER_VERSION,
                 .created_unix = opt.created_unix.value_or(static_cast<uint64_t>(std::time(nullptr))),
                 .cmdline = in.cmdline, .note = in.note};
  auto meta = build_metadata(info, in.machine, ram, disks);
  Header h;
  h.incompat = info.incompat;
  h.data_end = w.cursor;
  h.metadata_offset = round_up_page(w.cursor);
  h.metadata_size = meta.size();
  h.metadata_xxh3 = xxh3(meta.data(), meta.size());
  file.write_at(h.metadata_offset, meta);
  auto head = encode_header(h);
  // The header goes last: until it is written the file is not an image.
  file.write_at(0, {reinterpret_cast<const uint8_t*>(head.data()), head.size()});
  uint64_t size = h.metadata_offset + h.metadata_size;
  if (::ftruncate(file.fd(), static_cast<off_t>(size)) < 0) throw SysError(fmt::format("{}: truncate", path), errno);
  file.commit(opt.sync);

  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) stats.allocated_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  stats.file_size = size;
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return stats;
}

}  // namespace amber::image
