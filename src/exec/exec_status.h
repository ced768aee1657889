#pragma once
// How `amber exec` turns what the guest reported into its own exit status
// (docs/exec.md). amber-init reports V, the command's status as a shell
// gives it: its exit code, 128+N when signal N ended it, or one of amber-init's
// own codes below.
//   - through the debug-exit port (devices/legacy/debug_exit.h): amber sees
//     the guest status (V << 1) | 1, 9 bits wide, and takes V back from it;
//   - where the kernel has no ioperm(2): in the file "status" on amber's
//     status share, as decimal text, then the guest reboots.
#include <optional>
#include <string>
#include <string_view>

namespace amber::exec {

// amber-init's own codes (those of shells for 126 and 127; 125 as in
// `docker run`, for a failure before the command ran).
inline constexpr int kStatusSetupFailed = 125;   // a mount, the config, chdir: amber-init says why
inline constexpr int kStatusNotExecutable = 126;  // found but not executable
inline constexpr int kStatusNotFound = 127;       // command not found
// amber's status when the guest ended without reporting any (a kernel
// panic, a kernel without 9p or ioperm): the same as a setup failure.
inline constexpr int kStatusNoReport = kStatusSetupFailed;

// V from the debug-exit guest status (V << 1) | 1 (DebugExit::exit_status).
// nullopt when the status is even, so not from a write of the port.
std::optional<int> status_from_debug_exit(int guest_status);
// V from the status file's text: a decimal 0..255, optionally followed by
// a newline. nullopt for anything else.
std::optional<int> status_from_file(std::string_view text);

}  // namespace amber::exec
