#pragma once
// The gdb stub's socket and thread (--gdb PORT | unix:PATH, docs/debugging.md).
// One gdb at a time; the protocol itself is session.h's. Listening is on
// 127.0.0.1 only: the stub reads and writes all guest memory, so it is not
// offered to the network (a tunnel such as ssh -L reaches it from afar).
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "amber/log.h"

#include "amber/unique_fd.h"
#include "gdb/session.h"

namespace amber::gdb {

class Server {
 public:
  // Binds and listens now, so a bad or busy endpoint fails before the VM
  // starts: "PORT" (0 picks a free one) or "unix:PATH". `vm_stopped`: the
  // vCPUs start parked (--gdb-wait) and stay so until gdb continues.
  // `emulate_breakpoints`: Session's.
  Server(const std::string& endpoint, Target& target, SoftwareBreakpoints& sw, bool vm_stopped,
         bool emulate_breakpoints);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();
  // "127.0.0.1:1234" or the socket path, for the "listening" line.
  const std::string& address() const { return address_; }
  // From the vCPU thread that trapped (it is held out of the guest).
  void post_trap(uint32_t vcpu, const hv::DebugTrap& trap);
  // The VM ended: a gdb waiting on it gets the exit status; the thread ends.
  void vm_ended(int status);

 private:
  void loop();
  void handle_events(Session* session, int client);
  void wake();

  Target& target_;
  SoftwareBreakpoints& sw_;
  bool vm_stopped_, emulate_;
  std::string address_, unix_path_;
  UniqueFd listen_fd_, event_fd_;
  std::thread thread_;
  log::RateLimit refusals_;  // a local process may connect in a loop

  std::mutex mu_;
  struct Trap {
    uint32_t vcpu;
    hv::DebugTrap trap;
  };
  std::deque<Trap> traps_;
  bool ended_ = false;
  int end_status_ = 0;
};

}  // namespace amber::gdb
