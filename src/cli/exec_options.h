#pragma once
// Parsing of `amber exec` and `amber kconfig` (src/cli/exec_options.cpp),
// kept beside options.cpp's run/resume/... parsers.
#include "cli/args.h"
#include "cli/options.h"

namespace amber::cli {

Command parse_exec(ArgScanner& a);
Command parse_kconfig(ArgScanner& a);

}  // namespace amber::cli
