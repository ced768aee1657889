#pragma once
// amber pool and amber resume --pool (issue 12 goal 2; docs/pool.md).
//
// The pool process listens on a Unix seqpacket socket and keeps N worker
// processes, each forked from it and holding a warm VM (vmm/warm_vm.h)
// while it waits in accept() on the shared listening socket: the kernel
// gives each connection to one waiting worker, and the pool replaces every
// worker that took one. A client (`amber resume ... --pool SOCKET`) sends its
// arguments with its working directory and stdin/stdout/stderr as open
// descriptors (SCM_RIGHTS); the worker takes them over, runs the resume on
// its warm VM exactly as `amber resume` would, and answers the exit status.
// A client that goes away (killed, its terminal closed) stops the VM.
#include <chrono>
#include <string>
#include <vector>

#include "cli/options.h"
#include "snapshot/checked_images.h"

namespace amber::hv {
class Hypervisor;
}
namespace amber::vmm {
class WarmVm;
}

namespace amber::cli {

int cmd_pool(const PoolArgs& a);

// The client: hands `args` (amber's whole argument list, a resume with
// --pool) to a worker of the pool at `socket` and returns the resume's exit
// status.
int resume_through_pool(const std::string& socket, const std::vector<std::string>& args);

// Set in a worker while it serves a request: what cmd_resume uses instead
// of creating a VM.
struct PoolRequest {
  hv::Hypervisor* hv = nullptr;  // the worker's, opened ahead (KvmSystem reads CPUID and MSR lists)
  vmm::WarmVm* warm = nullptr;
  std::string linux_refusal;     // require_linux_capable_kvm's error, checked ahead; empty: Linux runs
  // Images the pool checked in full (its --like image): a jailed worker has
  // no check records of its own (snapshot/checked_images.h).
  std::vector<image::FileIdentity> checked;
  int conn = -1;  // the client's connection: end of file when it went away
  std::chrono::steady_clock::time_point client_start;
};
const PoolRequest* current_pool_request();

}  // namespace amber::cli
