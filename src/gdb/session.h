#pragma once
// One gdb connection speaking the remote protocol (gdb manual, Appendix E)
// in all-stop mode: one gdb thread per vCPU (thread id = vCPU index + 1),
// registers by target.xml (registers.h), memory by guest virtual address
// (page_walk.h), software and hardware breakpoints, watchpoints, single
// step, continue, Ctrl-C. It turns bytes from gdb into bytes for gdb and
// calls a Target; sockets and threads are server.h's, so the protocol is
// unit-tested and fuzzed without a VM.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gdb/breakpoints.h"
#include "gdb/rsp.h"
#include "hv/debug_regs.h"
#include "hv/hypervisor.h"

namespace amber::gdb {

// The VM as the stub drives it. Every call but vcpu_count() may throw
// amber::Error (the VM has ended); the session then answers with an error.
class Target {
 public:
  virtual ~Target() = default;
  virtual uint32_t vcpu_count() = 0;
  // Returns with every vCPU out of the guest.
  virtual void stop() = 0;
  // Applies `debug[i]` to vCPU i and lets the vCPUs run: all of them, or
  // only `only` (a single step).
  virtual void resume(std::span<const hv::GuestDebug> debug, std::optional<uint32_t> only) = 0;
  virtual hv::DebugRegs read_registers(uint32_t vcpu) = 0;
  virtual void write_registers(uint32_t vcpu, const hv::DebugRegs& r) = 0;
  // Guest physical memory; false when [gpa, gpa+len) is not all RAM.
  virtual bool read_physical(uint64_t gpa, std::span<uint8_t> out) = 0;
  virtual bool write_physical(uint64_t gpa, std::span<const uint8_t> in) = 0;
  // gdb's kill: the VM is ended.
  virtual void kill() = 0;
};

class Session {
 public:
  // `emulate_breakpoints`: this KVM does not deliver breakpoint exits
  // (kvm/guest_debug_probe.h), so breakpoints and write watchpoints are
  // checked after every single step of a continue instead: no int3 in RAM,
  // no debug registers, and far slower.
  Session(Target& target, SoftwareBreakpoints& sw, bool emulate_breakpoints = false);

  // gdb connected; the target is stopped (the server stopped it).
  void attach();
  // Bytes from gdb -> bytes to send back (acks and framed replies).
  std::string receive(std::span<const uint8_t> bytes);
  // A vCPU trapped (held out of the guest; others may run). Returns the
  // stop reply when gdb waits for one, after stopping the whole VM; an
  // int3 that is not the debugger's goes back to the guest instead.
  std::string on_trap(uint32_t vcpu, const hv::DebugTrap& trap);
  // The VM ended (exit status): "W" for a gdb waiting on it.
  std::string on_vm_end(int status);
  // gdb went away or detached: breakpoints out of the guest, guest debug
  // off, the VM runs on.
  void detach();

  bool running() const { return running_; }
  bool finished() const { return finished_; }  // after D or k: close the connection

 private:
  std::string handle(std::string_view p);
  std::string reply(std::string_view payload);  // framed, remembered for a '-'
  // Commands.
  std::string query(std::string_view p);
  std::string read_memory(std::string_view args);
  std::string write_memory(std::string_view args);
  std::string breakpoint(bool insert, std::string_view args);
  std::string vcont(std::string_view actions);
  std::string set_thread(std::string_view p);
  std::string resume(std::optional<uint32_t> step);
  std::string stop_reply(uint32_t vcpu, std::string_view reason, int signal = 5);

  const hv::DebugRegs& regs(uint32_t vcpu);
  // Memory by virtual address through `vcpu`'s page tables, page by page.
  size_t access_virtual(uint32_t vcpu, uint64_t vaddr, std::span<uint8_t> buf, bool write);
  std::optional<uint32_t> parse_thread(std::string_view s) const;
  // Breakpoint emulation by stepping (emulate_breakpoints).
  std::string emulated_breakpoint(bool insert, char type, uint64_t addr, uint64_t len);
  std::string check_emulated(uint32_t trapped);
  void resume_stepping_all();

  Target& target_;
  SoftwareBreakpoints& sw_;
  bool emulate_;
  struct Emulated {
    char type;  // '0' software, '1' hardware, '2' write watchpoint
    uint64_t addr, len;
    std::vector<uint8_t> last;  // watchpoints: the bytes at the last stop
  };
  std::vector<Emulated> emulated_;
  bool stepping_all_ = false;  // a continue carried out by single steps
  HardwareBreakpoints hw_;
  PacketReader reader_;
  bool no_ack_ = false;
  bool running_ = false, finished_ = false;
  uint32_t g_thread_ = 0, c_thread_ = 0;  // vCPU indexes for Hg / Hc
  std::optional<uint32_t> stepping_;
  std::vector<std::optional<hv::DebugRegs>> regs_;  // cached while stopped
  std::vector<bool> inject_bp_;
  std::string last_stop_ = "S05";
  std::string last_reply_;
};

}  // namespace amber::gdb
