// CowDisk: block I/O. Reads take each run of blocks from wherever it lives;
// writes go to the overlay, copying a block up from the base first when a
// write covers only part of it.
#include "virtio/disk/cow_disk.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "virtio/disk/file_io.h"

namespace amber::block {

std::string CowDisk::identity() const { return fmt::format("cow:{}:{}", base_->identity(), path_); }

uint64_t CowDisk::block_len(uint64_t block) const noexcept { return std::min<uint64_t>(bs_, size_ - block * bs_); }

uint64_t CowDisk::overlay_blocks() const noexcept {
  uint64_t n = 0;
  for (auto b : bitmap_) n += uint64_t(__builtin_popcount(b));
  return n;
}

bool CowDisk::mark(uint64_t first, uint64_t count) noexcept {
  if (count == 0) return true;
  for (uint64_t b = first; b < first + count; ++b) bitmap_[b / 8] |= uint8_t(1u << (b % 8));
  // Data first, then the bitmap bytes that publish it.
  uint64_t lo = first / 8, hi = (first + count - 1) / 8;
  return pwrite_full(fd_.get(), OverlayHeader::kBitmapOffset + lo, std::span(bitmap_.data() + lo, hi - lo + 1));
}

bool CowDisk::read(uint64_t off, std::span<uint8_t> data) noexcept {
  if (off > size_ || data.size() > size_ - off) return false;
  size_t done = 0;
  while (done < data.size()) {
    uint64_t pos = off + done;
    uint64_t block = pos / bs_;
    bool in_overlay = present(block);
    // Extend the run over following blocks that live in the same place.
    uint64_t end = std::min<uint64_t>((block + 1) * bs_, off + data.size());
    while (end < off + data.size() && present(end / bs_) == in_overlay)
      end = std::min<uint64_t>(end + bs_, off + data.size());
    auto part = data.subspan(done, end - pos);
    bool ok = in_overlay ? pread_full(fd_.get(), data_pos(pos), part) : base_->read(pos, part);
    if (!ok) return false;
    done += part.size();
  }
  return true;
}

bool CowDisk::write_partial(uint64_t block, uint64_t in_off, std::span<const uint8_t> data) noexcept {
  uint64_t start = block * bs_;
  if (present(block)) return pwrite_full(fd_.get(), data_pos(start + in_off), data);
  // Copy-up: the rest of the block must keep the base's bytes.
  auto buf = std::span(scratch_.data(), block_len(block));
  if (!base_->read(start, buf)) return false;
  std::memcpy(buf.data() + in_off, data.data(), data.size());
  return pwrite_full(fd_.get(), data_pos(start), buf) && mark(block, 1);
}

bool CowDisk::write(uint64_t off, std::span<const uint8_t> data) noexcept {
  if (read_only_ || off > size_ || data.size() > size_ - off) return false;
  size_t done = 0;
  while (done < data.size()) {
    uint64_t pos = off + done;
    uint64_t block = pos / bs_, in_off = pos % bs_;
    uint64_t left = data.size() - done;
    if (in_off == 0 && left >= block_len(block)) {
      // Whole blocks: written straight to the overlay, one call for the run.
      uint64_t n = 0, b = block;
      while (b < blocks_ && n + block_len(b) <= left) n += block_len(b++);
      if (!pwrite_full(fd_.get(), data_pos(pos), data.subspan(done, n)) || !mark(block, b - block)) return false;
      done += n;
    } else {
      uint64_t n = std::min<uint64_t>(left, block_len(block) - in_off);
      if (!write_partial(block, in_off, data.subspan(done, n))) return false;
      done += n;
    }
  }
  return true;
}

bool CowDisk::flush() noexcept {
  return read_only_ || datasync(fd_.get());
}

bool CowDisk::discard(uint64_t off, uint64_t len) noexcept {
  if (read_only_ || off > size_ || len > size_ - off) return false;
  // A hint: only blocks wholly inside the range and already in the overlay
  // are freed (they then read as zeros). The base is never touched.
  uint64_t first = (off + bs_ - 1) / bs_;
  for (uint64_t b = first; b < blocks_ && b * bs_ + block_len(b) <= off + len; ++b)
    if (present(b) && !punch_or_zero(fd_.get(), data_pos(b * bs_), block_len(b))) return false;
  return true;
}

bool CowDisk::write_zeroes(uint64_t off, uint64_t len, bool /*unmap*/) noexcept {
  if (read_only_ || off > size_ || len > size_ - off) return false;
  uint64_t end = off + len;
  while (off < end) {
    uint64_t block = off / bs_, in_off = off % bs_;
    uint64_t n = std::min<uint64_t>(end - off, block_len(block) - in_off);
    if (n == block_len(block)) {
      // The block now lives in the overlay as a hole: zeros that hide the base.
      if (!punch_or_zero(fd_.get(), data_pos(off), n) || (!present(block) && !mark(block, 1))) return false;
    } else {
      static const uint8_t kZeros[1 << 20] = {};  // block sizes are at most 1 MiB
      if (!write_partial(block, in_off, std::span(kZeros, n))) return false;
    }
    off += n;
  }
  return true;
}

std::vector<Extent> CowDisk::data_extents() const {
  // The union of the base's data and the overlay's blocks: an overlay block
  // of zeros over base data is data, or the base would show through.
  std::vector<Extent> out = base_->data_extents();
  for (uint64_t b = 0; b < blocks_;) {
    if (!present(b)) {
      ++b;
      continue;
    }
    uint64_t first = b;
    while (b < blocks_ && present(b)) ++b;
    out.push_back(Extent{first * bs_, std::min<uint64_t>(b * bs_, size_) - first * bs_});
  }
  return normalize_extents(std::move(out));
}

}  // namespace amber::block
