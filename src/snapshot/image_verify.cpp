// Image::verify: re-reads every checksummed byte of the file and proves
// every other byte zero, so that no byte of an image escapes it.
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <memory>

#include <fmt/core.h>

#include "amber/error.h"
#include "snapshot/image.h"
#include "snapshot/image_format.h"
#include "snapshot/read_at.h"
#include "snapshot/zero_scan.h"

namespace amber::image {

namespace {

struct Checker {
  const Image& img;
  std::vector<uint8_t> buf;

  // Reads [off, off+len) and throws naming `what` unless its XXH3 is `want`.
  const uint8_t* check(uint64_t off, uint64_t len, uint64_t want, const std::string& what) {
    buf.resize(len);
    read_at(img.fd(), buf.data(), len, off, img.path(), what);
    if (xxh3(buf.data(), len) != want)
      throw Error(fmt::format("{} (file offset {}, {} bytes): checksum mismatch", what, off, len));
    return buf.data();
  }
};

}  // namespace

void check_zero_gap(const Image& img, uint64_t from, uint64_t to, const std::string& after, std::vector<uint8_t>& buf) {
  constexpr uint64_t kStep = 4ull << 20;
  uint64_t pos = from;
  while (pos < to) {
    off_t data = ::lseek(img.fd(), static_cast<off_t>(pos), SEEK_DATA);
    if (data < 0 && errno == ENXIO) return;  // only a hole up to the end of the file
    uint64_t data_end = to;
    if (data >= 0) {  // else SEEK_DATA is unsupported: read everything
      pos = std::max(pos, static_cast<uint64_t>(data));
      if (pos >= to) return;
      off_t hole = ::lseek(img.fd(), static_cast<off_t>(pos), SEEK_HOLE);
      if (hole >= 0) data_end = std::min(to, static_cast<uint64_t>(hole));
    }
    for (; pos < data_end; pos += std::min(kStep, data_end - pos)) {
      uint64_t n = std::min(kStep, data_end - pos);
      buf.resize(n);
      read_at(img.fd(), buf.data(), n, pos, img.path(), "unused bytes after " + after);
      if (!is_zero(buf.data(), n)) {
        uint64_t bad = pos + static_cast<uint64_t>(std::find_if(buf.begin(), buf.end(), [](uint8_t b) { return b; }) -
                                                   buf.begin());
        throw Error(fmt::format("unused bytes after {} (file offset {}): not zero", after, bad));
      }
    }
  }
}

// `data` starts with an empty entry at the section's start; the section ends
// at `end`. The file may end earlier: the rest is an implicit hole.
void Image::check_zero_gaps(uint64_t end, std::vector<Covered> data, std::vector<uint8_t>& buf) const {
  std::sort(data.begin(), data.end(), [](const Covered& a, const Covered& b) { return a.from < b.from; });
  uint64_t pos = data.front().from;
  std::string after = data.front().what;
  for (auto& cv : data) {
    if (cv.from > pos) check_zero_gap(*this, pos, cv.from, after, buf);
    if (cv.to >= pos) {
      pos = cv.to;
      after = cv.what;
    }
  }
  if (pos < end) check_zero_gap(*this, pos, end, after, buf);
}

Image::VerifyResult Image::verify() const {
  Checker c{*this, {}};
  try {
    // Header and metadata are read again: the file may have changed since open().
    std::vector<uint8_t> head(kHeaderMaxSize);
    struct stat st {};
    if (::fstat(fd_.get(), &st) < 0) throw SysError("stat", errno);
    head.resize(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), kHeaderMaxSize));
    read_at(fd_.get(), head.data(), head.size(), 0, path_, "header");
    Header h = decode_header(head, path_);
    if (h.metadata_offset != metadata_offset_ || h.metadata_size != metadata_size_ || h.metadata_xxh3 != metadata_xxh3_)
      throw Error("header: changed since the image was opened");
    c.check(metadata_offset_, metadata_size_, metadata_xxh3_, "metadata");

    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    std::vector<uint8_t> raw;
    for (size_t i = 0; i < ram_.size(); ++i) {
      auto& r = ram_[i];
      for (size_t j = 0; j < r.runs.size(); ++j)
        c.check(r.file_offset + r.runs[j].offset, r.runs[j].length, r.runs[j].xxh3,
                fmt::format("RAM region {} run {}", i, j));
      for (size_t j = 0; j < r.chunks.size(); ++j) {
        auto& k = r.chunks[j];
        auto what = fmt::format("RAM region {} chunk {}", i, j);
        const uint8_t* frame = c.check(r.file_offset + k.frame_offset, k.frame_size, k.xxh3_frame, what + " frame");
        raw.resize(k.length);
        size_t n = ZSTD_decompressDCtx(dctx.get(), raw.data(), raw.size(), frame, k.frame_size);
        if (ZSTD_isError(n) || n != k.length) throw Error(what + ": bad zstd frame");
        if (xxh3(raw.data(), raw.size()) != k.xxh3_raw) throw Error(what + ": data checksum mismatch");
      }
    }
    for (size_t i = 0; i < disks_.size(); ++i) {
      auto& d = disks_[i];
      for (size_t j = 0; j < d.extents.size(); ++j)
        c.check(d.file_offset + d.extents[j].stored, d.extents[j].length, d.extents[j].xxh3,
                fmt::format("disk {} ('{}') extent {}", i, d.name, j));
    }
    // Inside the header page and each section up to its next page boundary,
    // every byte no checksum covers must be zero: RAM holes (a resume maps
    // them from the file), disk holes, padding. (Whole pages between
    // sections are not checked: a newer minor version may keep data there,
    // in page-aligned sections of its own, that this reader skips.)
    check_zero_gaps(kDataStart, {{0, header_size_, "the header"}}, c.buf);
    check_zero_gaps(round_up_page(metadata_offset_ + metadata_size_),
                    {{metadata_offset_, metadata_offset_ + metadata_size_, "the metadata"}}, c.buf);
    for (size_t i = 0; i < ram_.size(); ++i) {
      auto& r = ram_[i];
      std::vector<Covered> data{{r.file_offset, r.file_offset, fmt::format("the start of RAM region {}", i)}};
      for (size_t j = 0; j < r.runs.size(); ++j)
        data.push_back({r.file_offset + r.runs[j].offset, r.file_offset + r.runs[j].end(),
                        fmt::format("RAM region {} run {}", i, j)});
      for (size_t j = 0; j < r.chunks.size(); ++j)
        data.push_back({r.file_offset + r.chunks[j].frame_offset,
                        r.file_offset + r.chunks[j].frame_offset + r.chunks[j].frame_size,
                        fmt::format("RAM region {} chunk {} frame", i, j)});
      check_zero_gaps(round_up_page(r.file_offset + r.stored_size), std::move(data), c.buf);
    }
    for (size_t i = 0; i < disks_.size(); ++i) {
      auto& d = disks_[i];
      std::vector<Covered> data{{d.file_offset, d.file_offset, fmt::format("the start of disk {}", i)}};
      for (size_t j = 0; j < d.extents.size(); ++j)
        data.push_back({d.file_offset + d.extents[j].stored, d.file_offset + d.extents[j].stored + d.extents[j].length,
                        fmt::format("disk {} ('{}') extent {}", i, d.name, j)});
      // In place: the disk's holes; packed: the gaps kept inside a page
      // and the padding to the section's last page boundary.
      check_zero_gaps(round_up_page(d.file_offset + d.stored_size), std::move(data), c.buf);
    }
  } catch (const Error& e) {
    return {false, e.what()};
  }
  return {true, {}};
}

}  // namespace amber::image
