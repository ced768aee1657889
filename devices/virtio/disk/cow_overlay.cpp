// CowDisk: creating, opening, validating and resetting the overlay file.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "virtio/disk/cow_disk.h"
#include "virtio/disk/file_io.h"

namespace amber::block {

namespace {
uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

UniqueFd open_temporary() {
  const char* env = std::getenv("TMPDIR");
  std::string dir = env && *env ? env : "/tmp";
  // O_TMPFILE: never visible in the directory, gone when the fd closes.
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600));
  if (fd) return fd;
  std::string tmpl = dir + "/amber-overlay-XXXXXX";
  fd = UniqueFd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (!fd) throw SysError(fmt::format("creating a temporary overlay in '{}'", dir), errno);
  ::unlink(tmpl.c_str());
  return fd;
}
}  // namespace

std::unique_ptr<CowDisk> CowDisk::open(std::unique_ptr<DiskBackend> base, const std::string& overlay_path,
                                       bool read_only, std::string id, uint32_t block_size) {
  if (!base) throw Error("cow disk: no base");
  if (block_size < kSectorSize || block_size > (1u << 20) || (block_size & (block_size - 1)))
    throw Error(fmt::format("cow disk: block size {} is not a power of two in [512, 1 MiB]", block_size));
  UniqueFd fd;
  if (overlay_path.empty()) {
    fd = open_temporary();
  } else {
    fd = UniqueFd(::open(overlay_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) throw SysError(fmt::format("overlay '{}': open", overlay_path), errno);
    // Two VMs writing one overlay would corrupt it.
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0)
      throw Error(fmt::format("overlay '{}': in use by another process", overlay_path));
  }
  if (id.empty()) id = base->id();
  std::unique_ptr<CowDisk> disk(new CowDisk(std::move(base), std::move(fd), overlay_path, read_only, std::move(id), block_size));
  struct stat st {};
  check_sys(::fstat(disk->fd_.get(), &st), "overlay fstat");
  if (!S_ISREG(st.st_mode)) throw Error(fmt::format("overlay '{}': not a regular file", overlay_path));
  if (st.st_size == 0)
    disk->create_overlay();
  else
    disk->load_overlay();
  return disk;
}

CowDisk::CowDisk(std::unique_ptr<DiskBackend> base, UniqueFd fd, std::string path, bool read_only, std::string id, uint32_t bs)
    : base_(std::move(base)), fd_(std::move(fd)), path_(std::move(path)), read_only_(read_only), id_(std::move(id)), bs_(bs) {
  size_ = base_->size();
  blocks_ = (size_ + bs_ - 1) / bs_;
  bitmap_.assign((blocks_ + 7) / 8, 0);
  data_offset_ = align_up(OverlayHeader::kBitmapOffset + bitmap_.size(), std::max<uint64_t>(bs_, 4096));
  scratch_.resize(bs_);
}

void CowDisk::create_overlay() {
  std::string ident = base_->identity();
  if (ident.size() > OverlayHeader::kMaxIdentity) ident.resize(OverlayHeader::kMaxIdentity);
  OverlayHeader h{};
  std::memcpy(h.magic, OverlayHeader::kMagic, sizeof h.magic);
  h.version = OverlayHeader::kVersion;
  h.block_size = bs_;
  h.base_size = size_;
  h.bitmap_offset = OverlayHeader::kBitmapOffset;
  h.bitmap_bytes = bitmap_.size();
  h.data_offset = data_offset_;
  h.identity_len = uint32_t(ident.size());
  std::memcpy(h.identity, ident.data(), ident.size());
  // Sized up front and left sparse: the bitmap and the blocks are holes
  // (zeros) until written.
  check_sys(::ftruncate(fd_.get(), off_t(data_offset_ + blocks_ * bs_)), "overlay ftruncate");
  if (!pwrite_full(fd_.get(), 0, std::span(reinterpret_cast<const uint8_t*>(&h), sizeof h)))
    throw SysError("overlay header write", errno);
  if (!path_.empty()) check_sys(::fdatasync(fd_.get()), "overlay fdatasync");
}

void CowDisk::load_overlay() {
  OverlayHeader h{};
  if (!pread_full(fd_.get(), 0, std::span(reinterpret_cast<uint8_t*>(&h), sizeof h)))
    throw SysError(fmt::format("overlay '{}': read", path_), errno);
  if (std::memcmp(h.magic, OverlayHeader::kMagic, sizeof h.magic) != 0)
    throw Error(fmt::format("overlay '{}': not an amber overlay (bad magic)", path_));
  if (h.version != OverlayHeader::kVersion)
    throw Error(fmt::format("overlay '{}': unsupported version {}", path_, h.version));
  if (h.block_size != bs_)
    throw Error(fmt::format("overlay '{}': block size {} (expected {})", path_, h.block_size, bs_));
  std::string ident = base_->identity();
  if (ident.size() > OverlayHeader::kMaxIdentity) ident.resize(OverlayHeader::kMaxIdentity);
  if (h.base_size != size_)
    throw Error(fmt::format("overlay '{}' does not match its base: made for a {}-byte base, the base has {} bytes",
                            path_, h.base_size, size_));
  if (h.identity_len > OverlayHeader::kMaxIdentity || std::string(h.identity, h.identity_len) != ident)
    throw Error(fmt::format("overlay '{}' does not match its base: made for '{}', the base is '{}'", path_,
                            std::string(h.identity, std::min<uint32_t>(h.identity_len, OverlayHeader::kMaxIdentity)), ident));
  if (h.bitmap_offset != OverlayHeader::kBitmapOffset || h.bitmap_bytes != bitmap_.size() || h.data_offset != data_offset_)
    throw Error(fmt::format("overlay '{}': corrupt header (layout fields)", path_));
  if (!pread_full(fd_.get(), h.bitmap_offset, bitmap_)) throw SysError(fmt::format("overlay '{}': bitmap read", path_), errno);
  // Bits past the last block would make present() lie about nothing; reject.
  if (blocks_ % 8 && (bitmap_.back() >> (blocks_ % 8)) != 0)
    throw Error(fmt::format("overlay '{}': corrupt bitmap", path_));
  struct stat st {};
  check_sys(::fstat(fd_.get(), &st), "overlay fstat");
  if (uint64_t(st.st_size) < data_offset_ + blocks_ * bs_)
    check_sys(::ftruncate(fd_.get(), off_t(data_offset_ + blocks_ * bs_)), "overlay ftruncate");
}

void CowDisk::reset_overlay() {
  std::fill(bitmap_.begin(), bitmap_.end(), 0);
  // Freeing the blocks (truncate, then grow back as a hole) is both the
  // fastest reset and gives the space back.
  check_sys(::ftruncate(fd_.get(), off_t(OverlayHeader::kBitmapOffset)), "overlay reset");
  check_sys(::ftruncate(fd_.get(), off_t(data_offset_ + blocks_ * bs_)), "overlay reset");
  if (!path_.empty()) check_sys(::fdatasync(fd_.get()), "overlay fdatasync");
}

}  // namespace amber::block
