#pragma once
// Binds the control socket to a Machine: requests run as tasks on the
// Machine's main loop (Machine::post_task), where the console-triggered save
// runs too, so a pause, save or reset never races the run loop.
#include <string>

#include "api/api_server.h"
#include "api/protocol.h"
#include "vmm/machine.h"

namespace amber::api {

// Executes `r` on the main loop's thread and returns the answer line.
// Host errors (a failed save, a reset of a booted VM) become
// {"ok":false,"error":...}; the VM keeps its state (running or paused).
std::string execute(vmm::Machine& m, const Request& r);

// A Submit for ApiServer that posts execute() to `m`'s main loop.
ApiServer::Submit machine_submitter(vmm::Machine& m);

}  // namespace amber::api
