#include "gdb/breakpoints.h"

namespace amber::gdb {

std::optional<size_t> SoftwareBreakpoints::find(uint64_t vaddr) const {
  for (size_t i = 0; i < bps_.size(); ++i)
    if (bps_[i].vaddr == vaddr) return i;
  return std::nullopt;
}

bool SoftwareBreakpoints::insert(uint64_t vaddr, uint64_t gpa, const Reader& read, const Writer& write) {
  std::lock_guard lk(mu_);
  if (find(vaddr)) return true;
  uint8_t original = 0;
  if (!read(gpa, original)) return false;
  if (!lifted_ && !write(gpa, kInt3)) return false;
  bps_.push_back({vaddr, gpa, original});
  return true;
}

bool SoftwareBreakpoints::remove(uint64_t vaddr, const Writer& write, const Reader& read) {
  std::lock_guard lk(mu_);
  auto i = find(vaddr);
  if (!i) return false;
  const Bp& bp = bps_[*i];
  // Only our int3 is undone: a guest that rewrote the byte since keeps its own.
  uint8_t now = 0;
  if (!lifted_ && read(bp.gpa, now) && now == kInt3) write(bp.gpa, bp.original);
  bps_.erase(bps_.begin() + std::ptrdiff_t(*i));
  return true;
}

void SoftwareBreakpoints::remove_all(const Writer& write, const Reader& read) {
  std::lock_guard lk(mu_);
  for (auto& bp : bps_) {
    uint8_t now = 0;
    if (!lifted_ && read(bp.gpa, now) && now == kInt3) write(bp.gpa, bp.original);
  }
  bps_.clear();
}

bool SoftwareBreakpoints::contains(uint64_t vaddr) const {
  std::lock_guard lk(mu_);
  return find(vaddr).has_value();
}

bool SoftwareBreakpoints::empty() const {
  std::lock_guard lk(mu_);
  return bps_.empty();
}

void SoftwareBreakpoints::hide(uint64_t vaddr, std::span<uint8_t> out) const {
  std::lock_guard lk(mu_);
  for (auto& bp : bps_)
    if (bp.vaddr - vaddr < out.size() && out[bp.vaddr - vaddr] == kInt3) out[bp.vaddr - vaddr] = bp.original;
}

uint8_t SoftwareBreakpoints::write_through(uint64_t vaddr, uint8_t value) {
  std::lock_guard lk(mu_);
  auto i = find(vaddr);
  if (!i) return value;
  bps_[*i].original = value;
  return lifted_ ? value : kInt3;
}

void SoftwareBreakpoints::lift(const Writer& write, const Reader& read) {
  std::lock_guard lk(mu_);
  if (lifted_) return;
  for (auto& bp : bps_) {
    uint8_t now = 0;
    if (read(bp.gpa, now) && now == kInt3) write(bp.gpa, bp.original);
  }
  lifted_ = true;
}

void SoftwareBreakpoints::restore(const Writer& write) {
  std::lock_guard lk(mu_);
  if (!lifted_) return;
  for (auto& bp : bps_) write(bp.gpa, kInt3);
  lifted_ = false;
}

void SoftwareBreakpoints::reinsert(const Reader& read, const Writer& write) {
  std::lock_guard lk(mu_);
  for (auto& bp : bps_) {
    uint8_t now = 0;
    if (!read(bp.gpa, now)) continue;
    bp.original = now;
    write(bp.gpa, kInt3);
  }
  lifted_ = false;
}

namespace {
// DR7 R/W field (SDM 18.2.4): 00 execution, 01 data writes, 11 reads or writes.
uint64_t rw_bits(HwKind k) { return k == HwKind::kExec ? 0 : k == HwKind::kWrite ? 1 : 3; }
// DR7 LEN field: 00 1 byte, 01 2 bytes, 11 4 bytes, 10 8 bytes.
std::optional<uint64_t> len_bits(uint64_t len) {
  switch (len) {
    case 1: return 0;
    case 2: return 1;
    case 4: return 3;
    case 8: return 2;
    default: return std::nullopt;
  }
}
}  // namespace

bool HardwareBreakpoints::insert(HwKind kind, uint64_t addr, uint64_t len) {
  if (kind == HwKind::kExec) len = 1;  // gdb sends the breakpoint "kind" (1) here
  if (!len_bits(len) || addr % len) return false;
  for (auto& s : slots_)
    if (s && s->kind == kind && s->addr == addr && s->len == len) return true;
  for (auto& s : slots_)
    if (!s) {
      s = Slot{kind, addr, len};
      return true;
    }
  return false;
}

bool HardwareBreakpoints::remove(HwKind kind, uint64_t addr, uint64_t len) {
  if (kind == HwKind::kExec) len = 1;
  for (auto& s : slots_)
    if (s && s->kind == kind && s->addr == addr && s->len == len) {
      s.reset();
      return true;
    }
  return false;
}

bool HardwareBreakpoints::empty() const {
  for (auto& s : slots_)
    if (s) return false;
  return true;
}

std::array<uint64_t, 4> HardwareBreakpoints::dr() const {
  std::array<uint64_t, 4> d{};
  for (size_t i = 0; i < 4; ++i)
    if (slots_[i]) d[i] = slots_[i]->addr;
  return d;
}

uint64_t HardwareBreakpoints::dr7() const {
  uint64_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (!slots_[i]) continue;
    v |= 1ull << (2 * i);  // L0..L3
    v |= (rw_bits(slots_[i]->kind) | *len_bits(slots_[i]->len) << 2) << (16 + 4 * i);
  }
  return v;
}

std::optional<HardwareBreakpoints::Hit> HardwareBreakpoints::hit(uint64_t dr6) const {
  for (size_t i = 0; i < 4; ++i)
    if ((dr6 & (1ull << i)) && slots_[i]) return Hit{slots_[i]->kind, slots_[i]->addr};
  return std::nullopt;
}

}  // namespace amber::gdb
