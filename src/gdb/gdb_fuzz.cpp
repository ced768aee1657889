// libFuzzer target: arbitrary bytes from a "gdb" into a Session over a
// FakeTarget whose vCPU has paging on over tables in its RAM, so memory
// commands walk guest-controlled page tables too. A crash, hang or
// sanitizer report is a bug; the corpus replays in the unit suite.
#include <cstdint>
#include <cstring>

#include "gdb/fake_target.h"
#include "gdb/session.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace amber::gdb;
  FakeTarget t(2, 64 << 10);
  t.regs[0].cr0 = 1ull << 31;
  t.regs[0].cr4 = 1ull << 5;
  t.regs[0].efer = 1ull << 10;
  t.regs[0].cr3 = 0x1000;
  // The first bytes also seed the page tables (whatever they say).
  std::memcpy(t.ram.data() + 0x1000, data, std::min<size_t>(size, 0x3000));
  SoftwareBreakpoints sw;
  Session s(t, sw);
  s.attach();
  size_t half = size / 2;
  s.receive(std::span<const uint8_t>(data, half));
  if (s.running()) s.on_trap(uint32_t(size % 3), {uint32_t(size % 2 ? 1 : 3), size, 1ull << (size % 16), 0});
  s.receive(std::span<const uint8_t>(data + half, size - half));
  s.on_vm_end(0);
  return 0;
}
