#include "virtio/blk.h"

#include <algorithm>
#include <cstring>

#include "virtio/virtio_spec.h"

namespace amber::virtio {

using block::kSectorSize;

namespace {
uint64_t total(const std::vector<std::span<uint8_t>>& v) {
  uint64_t n = 0;
  for (auto& s : v) n += s.size();
  return n;
}

// Copies the first `n` bytes of `v` to `out` and removes them from `v`.
// Descriptors may split a structure anywhere (§2.7.4: no assumptions about
// framing), so headers and segments are gathered, never cast in place.
bool take_front(std::vector<std::span<uint8_t>>& v, void* out, size_t n) {
  auto* dst = static_cast<uint8_t*>(out);
  size_t i = 0;
  while (n > 0) {
    if (i == v.size()) return false;
    size_t k = std::min(n, v[i].size());
    std::memcpy(dst, v[i].data(), k);
    dst += k;
    n -= k;
    v[i] = v[i].subspan(k);
    if (v[i].empty()) ++i;
  }
  v.erase(v.begin(), v.begin() + long(i));
  return true;
}

struct RequestHeader {  // §5.2.6 struct virtio_blk_req, up to the data
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};
static_assert(sizeof(RequestHeader) == 16);

struct DiscardSegment {  // §5.2.6 struct virtio_blk_discard_write_zeroes
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};
static_assert(sizeof(DiscardSegment) == 16);

// Overflow-safe: [sector, sector + count) lies inside `capacity` sectors.
bool in_range(uint64_t sector, uint64_t count, uint64_t capacity) {
  return sector <= capacity && count <= capacity - sector;
}
}  // namespace

Blk::Blk(std::unique_ptr<block::DiskBackend> disk) : disk_(std::move(disk)) {
  if (!disk_) throw Error("virtio-blk: no disk");
  features_ = kBlkFeatureSizeMax | kBlkFeatureSegMax | kBlkFeatureBlkSize | kBlkFeatureFlush;
  if (disk_->read_only())
    features_ |= kBlkFeatureRo;
  else
    features_ |= kBlkFeatureDiscard | kBlkFeatureWriteZeroes;
  config_.capacity = disk_->size() / kSectorSize;
  config_.size_max = kSizeMax;
  config_.seg_max = kSegMax;
  config_.blk_size = kSectorSize;
  config_.num_queues = 1;
  config_.max_discard_sectors = kMaxDiscardSectors;
  config_.max_discard_seg = kMaxDiscardSeg;
  config_.discard_sector_alignment = 8;  // 4 KiB: the hole granularity of most file systems
  config_.max_write_zeroes_sectors = kMaxDiscardSectors;
  config_.max_write_zeroes_seg = kMaxDiscardSeg;
  config_.write_zeroes_may_unmap = 1;
  // Chains hold at most queue size + an indirect table of buffers.
  chain_.buffers.reserve(kQueueSize + Queue::kMaxIndirect);
  rd_.reserve(kQueueSize + Queue::kMaxIndirect);
  wr_.reserve(kQueueSize + Queue::kMaxIndirect);
}

uint32_t Blk::device_type() const noexcept { return kDeviceIdBlock; }

void Blk::read_config(uint64_t offset, std::span<uint8_t> data) const noexcept {
  std::memset(data.data(), 0, data.size());
  if (offset >= sizeof config_) return;  // guest-controlled
  size_t n = std::min<uint64_t>(data.size(), sizeof config_ - offset);
  std::memcpy(data.data(), reinterpret_cast<const uint8_t*>(&config_) + offset, n);
}

void Blk::write_config(uint64_t offset, std::span<const uint8_t> data) noexcept {
  // Only `writeback` is writable, and only with VIRTIO_BLK_F_CONFIG_WCE,
  // which is not offered (§5.2.4): every write is dropped.
  log::guest_warn(warn_limit_, "virtio-blk: ignored {}-byte config write at {:#x}", data.size(), offset);
}

bool Blk::process_queue(uint32_t index, Queue& q, const GuestMemory& mem) noexcept {
  if (index != 0) return false;
  bool used = false;
  // pop() refuses more than queue-size entries per avail index update, so a
  // static ring cannot keep this loop going.
  while (q.pop(mem, chain_) == PopStatus::kChain) {
    uint32_t len = 0;
    if (!serve(chain_, mem, len)) {
      q.set_broken("virtio-blk request without a writable status byte in RAM");
      break;
    }
    if (!q.add_used(mem, chain_.head, len)) break;
    used = true;
  }
  return used;
}

bool Blk::serve(const Chain& chain, const GuestMemory& mem, uint32_t& used_len) noexcept {
  // §5.2.6: the status byte is the last byte of the last writable buffer.
  const Buffer* last_w = nullptr;
  for (auto& b : chain.buffers)
    if (b.writable && b.len > 0) last_w = &b;
  if (!last_w) return false;
  uint64_t status_addr = last_w->addr + (last_w->len - 1);  // guest-controlled
  if (status_addr < last_w->addr) return false;             // wrapped around
  auto status = mem.try_slice(status_addr, 1);
  if (!status) return false;

  rd_.clear();
  wr_.clear();
  bool bad_addr = false;
  for (auto& b : chain.buffers) {
    uint32_t len = &b == last_w ? b.len - 1 : b.len;
    if (len == 0) continue;
    auto s = mem.try_slice(b.addr, len);  // guest-controlled
    if (!s) {
      bad_addr = true;
      continue;
    }
    (b.writable ? wr_ : rd_).push_back(*s);
  }
  uint64_t written = 0;
  uint8_t st = kBlkStatusIoErr;
  if (bad_addr)
    log::guest_warn(warn_limit_, "virtio-blk: request buffer outside RAM");
  else
    st = execute(written);
  (*status)[0] = st;
  // Bytes written into the writable buffers, status included (§2.7.8).
  used_len = uint32_t(std::min<uint64_t>(written + 1, UINT32_MAX));
  return true;
}

uint8_t Blk::execute(uint64_t& written) noexcept {
  RequestHeader h;
  if (!take_front(rd_, &h, sizeof h)) {  // guest-controlled
    log::guest_warn(warn_limit_, "virtio-blk: request header shorter than 16 bytes");
    return kBlkStatusIoErr;
  }
  switch (h.type) {  // guest-controlled
    case kBlkTypeIn: {
      uint8_t st = do_io(h.type, h.sector);
      if (st == kBlkStatusOk) written = total(wr_);
      return st;
    }
    case kBlkTypeOut: return do_io(h.type, h.sector);
    case kBlkTypeFlush: return disk_->flush() ? kBlkStatusOk : kBlkStatusIoErr;
    case kBlkTypeGetId: return do_get_id(written);
    case kBlkTypeDiscard:
    case kBlkTypeWriteZeroes: return do_discard(h.type);
    default: return kBlkStatusUnsupp;
  }
}

uint8_t Blk::do_io(uint32_t type, uint64_t sector) noexcept {
  bool in = type == kBlkTypeIn;
  // §5.2.6.1: writes to a read-only device fail and write nothing.
  if (!in && disk_->read_only()) return kBlkStatusIoErr;
  // Data must flow one way: device-writable for IN, device-readable for OUT.
  if (in ? !rd_.empty() : !wr_.empty()) {
    log::guest_warn(warn_limit_, "virtio-blk: {} request with data buffers of the wrong direction", in ? "IN" : "OUT");
    return kBlkStatusIoErr;
  }
  Spans& data = in ? wr_ : rd_;
  uint64_t len = total(data);
  // §5.2.6.2: data is a multiple of 512 bytes; the range must fit the disk.
  if (len % kSectorSize || !in_range(sector, len / kSectorSize, config_.capacity)) {  // guest-controlled
    log::guest_warn(warn_limit_, "virtio-blk: {} bytes at sector {} is outside the {}-sector disk", len, sector, config_.capacity);
    return kBlkStatusIoErr;
  }
  uint64_t off = sector * kSectorSize;
  for (auto& s : data) {
    bool ok = in ? disk_->read(off, s) : disk_->write(off, s);
    if (!ok) return kBlkStatusIoErr;
    off += s.size();
  }
  return kBlkStatusOk;
}

uint8_t Blk::do_get_id(uint64_t& written) noexcept {
  uint64_t len = total(wr_);
  if (!rd_.empty() || len < kBlkIdBytes) return kBlkStatusIoErr;  // guest-controlled
  // §5.2.6: up to 20 bytes, NUL-padded, no terminator when exactly 20.
  std::array<uint8_t, kBlkIdBytes> id{};
  std::string name = disk_->id();
  std::memcpy(id.data(), name.data(), std::min<size_t>(name.size(), id.size()));
  size_t at = 0;
  for (auto& s : wr_)
    for (auto& byte : s) byte = at < id.size() ? id[at++] : 0;
  written = len;
  return kBlkStatusOk;
}

uint8_t Blk::do_discard(uint32_t type) noexcept {
  bool discard = type == kBlkTypeDiscard;
  if (disk_->read_only()) return kBlkStatusIoErr;
  uint64_t len = total(rd_);
  uint32_t max_seg = discard ? config_.max_discard_seg : config_.max_write_zeroes_seg;
  uint32_t max_sectors = discard ? config_.max_discard_sectors : config_.max_write_zeroes_sectors;
  if (!wr_.empty() || len == 0 || len % sizeof(DiscardSegment) || len / sizeof(DiscardSegment) > max_seg)
    return kBlkStatusIoErr;  // guest-controlled
  std::array<DiscardSegment, kMaxDiscardSeg> segs;
  size_t n = len / sizeof(DiscardSegment);
  // Validate every segment before touching the disk.
  for (size_t i = 0; i < n; ++i) {
    take_front(rd_, &segs[i], sizeof segs[i]);
    const auto& s = segs[i];  // guest-controlled
    // §5.2.6.2: unknown flags, and unmap on a discard, are unsupported.
    if ((s.flags & ~kBlkDiscardUnmap) || (discard && (s.flags & kBlkDiscardUnmap))) return kBlkStatusUnsupp;
    if (s.num_sectors > max_sectors || !in_range(s.sector, s.num_sectors, config_.capacity)) return kBlkStatusIoErr;
  }
  for (size_t i = 0; i < n; ++i) {
    uint64_t off = segs[i].sector * kSectorSize, bytes = uint64_t(segs[i].num_sectors) * kSectorSize;
    bool ok = discard ? disk_->discard(off, bytes) : disk_->write_zeroes(off, bytes, segs[i].flags & kBlkDiscardUnmap);
    if (!ok) return kBlkStatusIoErr;
  }
  return kBlkStatusOk;
}

StateNode Blk::save() const {
  return save_state(BlkState{config_.capacity, disk_->read_only()});
}

void Blk::restore(const StateNode& node) {
  auto s = load_state<BlkState>(node, "virtio-blk");
  if (s.capacity != config_.capacity)
    throw Error(fmt::format("image: virtio-blk disk '{}' has {} sectors, the snapshot expects {}", disk_->id(),
                            config_.capacity, s.capacity));
  if (s.read_only && !disk_->read_only())
    throw Error(fmt::format("image: virtio-blk disk '{}' was read-only in the snapshot", disk_->id()));
  // Nothing else to restore: requests never stay in flight (blk.h).
}

}  // namespace amber::virtio
