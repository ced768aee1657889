#pragma once
// `amber exec` (docs/exec.md) and the part of `amber run` it reuses.
#include <cstdint>
#include <span>

#include "cli/options.h"
#include "vmm/machine.h"

namespace amber::cli {

// `amber run --kernel` as cmd_run does it (src/cli/commands.cpp), with
// `initrd_image` in place of --initrd's file when it is not empty; returns
// why the VM stopped instead of an exit status.
vmm::RunOutcome boot_and_run(const RunArgs& a, std::span<const uint8_t> initrd_image);

// Boots a.vm.kernel over the host's root, runs a.command, returns its status.
int cmd_exec(const ExecArgs& a);

}  // namespace amber::cli
