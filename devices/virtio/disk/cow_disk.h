#pragma once
// A copy-on-write disk: a read-only base DiskBackend plus a private sparse
// overlay file that holds every block the guest wrote. The base is never
// written. The overlay format (docs/disks.md):
//
//   0      header (OverlayHeader, little-endian), padded to 4 KiB
//   4096   bitmap: bit i set = block i lives in the overlay
//   data   block i at data_offset + i * block_size (block-aligned; blocks
//          never written are holes, so the file stays sparse)
//
// A named overlay persists and can be reopened over the same base; opening it
// over a base of another size or identity is an error. Without a name the
// overlay is an unlinked temporary file.
#include <memory>
#include <string>
#include <vector>

#include "virtio/disk/disk_backend.h"
#include "amber/unique_fd.h"

namespace amber::block {

struct OverlayHeader {
  static constexpr char kMagic[8] = {'A', 'M', 'B', 'E', 'R', 'C', 'O', 'W'};
  static constexpr uint32_t kVersion = 1;
  static constexpr uint64_t kBitmapOffset = 4096;
  static constexpr uint32_t kMaxIdentity = 256;
  char magic[8];
  uint32_t version;
  uint32_t block_size;
  uint64_t base_size;
  uint64_t bitmap_offset;
  uint64_t bitmap_bytes;
  uint64_t data_offset;
  uint32_t identity_len;
  uint32_t reserved;
  char identity[kMaxIdentity];
};
static_assert(sizeof(OverlayHeader) == 312);

class CowDisk : public DiskBackend {
 public:
  static constexpr uint32_t kDefaultBlockSize = 4096;

  // `overlay_path` empty: an unlinked temporary file in $TMPDIR (or /tmp).
  // Throws Error when the overlay cannot be created, is corrupt, is in use,
  // or does not match `base`.
  static std::unique_ptr<CowDisk> open(std::unique_ptr<DiskBackend> base, const std::string& overlay_path,
                                       bool read_only, std::string id, uint32_t block_size = kDefaultBlockSize);

  uint64_t size() const noexcept override { return size_; }
  bool read_only() const noexcept override { return read_only_; }
  std::string id() const override { return id_; }
  std::string identity() const override;
  bool read(uint64_t off, std::span<uint8_t> data) noexcept override;
  bool write(uint64_t off, std::span<const uint8_t> data) noexcept override;
  bool flush() noexcept override;
  bool discard(uint64_t off, uint64_t len) noexcept override;
  bool write_zeroes(uint64_t off, uint64_t len, bool unmap) noexcept override;
  std::vector<Extent> data_extents() const override;
  void reset_overlay() override;

  const DiskBackend& base() const noexcept { return *base_; }
  uint32_t block_size() const noexcept { return bs_; }
  uint64_t overlay_blocks() const noexcept;  // blocks held in the overlay

 private:
  CowDisk(std::unique_ptr<DiskBackend> base, UniqueFd fd, std::string path, bool read_only, std::string id, uint32_t bs);
  void create_overlay();
  void load_overlay();
  bool present(uint64_t block) const noexcept { return bitmap_[block / 8] & (1u << (block % 8)); }
  bool mark(uint64_t first, uint64_t count) noexcept;  // sets and persists bits
  uint64_t block_len(uint64_t block) const noexcept;
  uint64_t data_pos(uint64_t off) const noexcept { return data_offset_ + off; }
  bool write_partial(uint64_t block, uint64_t in_off, std::span<const uint8_t> data) noexcept;

  std::unique_ptr<DiskBackend> base_;
  UniqueFd fd_;
  std::string path_;  // empty for a temporary overlay
  bool read_only_;
  std::string id_;
  uint32_t bs_;
  uint64_t size_, blocks_, data_offset_;
  std::vector<uint8_t> bitmap_;
  std::vector<uint8_t> scratch_;  // one block, for copy-up
};

}  // namespace amber::block
