#pragma once
// The debugger's breakpoints. Software ones are int3 bytes written into
// guest RAM (the original byte kept); hardware ones and watchpoints take
// the four debug-register slots (Intel SDM vol. 3B 18.2 "Debug
// Registers": DR0-3 addresses, DR7 enable/type/length fields).
#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "hv/debug_regs.h"

namespace amber::gdb {

inline constexpr uint8_t kInt3 = 0xcc;

// Thread-safe: the gdb thread inserts and removes while the VM's main loop
// may lift them for a snapshot (Machine's debug hooks).
class SoftwareBreakpoints {
 public:
  using Reader = std::function<bool(uint64_t gpa, uint8_t& byte)>;
  using Writer = std::function<bool(uint64_t gpa, uint8_t byte)>;

  // Writes int3 at `gpa` (the translation of `vaddr`); false when `gpa`
  // is not RAM. Inserting at a known `vaddr` again succeeds, changing nothing.
  bool insert(uint64_t vaddr, uint64_t gpa, const Reader& read, const Writer& write);
  // Puts the original byte back (when the int3 is still there); false when
  // none was set at `vaddr`.
  bool remove(uint64_t vaddr, const Writer& write, const Reader& read);
  void remove_all(const Writer& write, const Reader& read);
  bool contains(uint64_t vaddr) const;
  bool empty() const;
  // The bytes a reader of [vaddr, vaddr+out.size()) should see: each int3
  // replaced by the byte it hides.
  void hide(uint64_t vaddr, std::span<uint8_t> out) const;
  // A debugger write over an int3 changes the hidden byte; returns the
  // byte to write to RAM in its place (int3 again).
  uint8_t write_through(uint64_t vaddr, uint8_t value);

  // For a snapshot: originals back in RAM (lift), then int3 again (restore),
  // so the image holds the guest's bytes and not the debugger's.
  void lift(const Writer& write, const Reader& read);
  void restore(const Writer& write);
  // After an in-place reset replaced guest RAM with the image's: each
  // breakpoint's byte is read again from the new RAM and the int3 written
  // over it (at the same guest-physical address as before).
  void reinsert(const Reader& read, const Writer& write);

 private:
  struct Bp {
    uint64_t vaddr, gpa;
    uint8_t original;
  };
  std::optional<size_t> find(uint64_t vaddr) const;
  mutable std::mutex mu_;
  std::vector<Bp> bps_;
  bool lifted_ = false;
};

// gdb's Z1 (execution), Z2 (write) and Z4 (access) on x86 hardware; Z3
// (read only) has no x86 encoding and is refused.
enum class HwKind { kExec = 1, kWrite = 2, kAccess = 4 };

class HardwareBreakpoints {
 public:
  // False when all four slots are taken, or the length/alignment has no
  // DR7 encoding (1, 2, 4 or 8 bytes, aligned; execution: length 1).
  bool insert(HwKind kind, uint64_t addr, uint64_t len);
  bool remove(HwKind kind, uint64_t addr, uint64_t len);
  void clear() { slots_ = {}; }
  bool empty() const;
  // DR0-3 and DR7 for GuestDebug.
  std::array<uint64_t, 4> dr() const;
  uint64_t dr7() const;
  // The slot a #DB's DR6 names (B0-B3), if it is one of ours.
  struct Hit {
    HwKind kind;
    uint64_t addr;
  };
  std::optional<Hit> hit(uint64_t dr6) const;

 private:
  struct Slot {
    HwKind kind;
    uint64_t addr, len;
  };
  std::array<std::optional<Slot>, 4> slots_;
};

}  // namespace amber::gdb
