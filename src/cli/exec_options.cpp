#include "cli/exec_options.h"

#include <fmt/core.h>

#include "amber/error.h"
#include "cli/help.h"
#include "cli/options.h"

namespace amber::cli {

namespace {
bool is_help(const std::string& opt) { return opt == "--help" || opt == "-h"; }
}  // namespace

Command parse_exec(ArgScanner& a) {
  ExecArgs r;
  RunArgs& vm = r.vm;
  while (!a.done()) {
    auto o = a.next_option();
    if (!o) {  // "--" or the command's first word: the rest is the command
      r.command = a.rest();
      break;
    }
    const std::string& opt = *o;
    if (is_help(opt)) return HelpArgs{kExecHelp};
    if (opt == "--kernel") vm.kernel = a.value();
    else if (opt == "--cpus") vm.cpus = uint32_t(parse_uint(a.value(), "--cpus", 1, 32));
    else if (opt == "--mem") vm.mem_bytes = parse_size(a.value(), "--mem");
    else if (opt == "--rwdir") r.rwdirs.push_back(a.value());
    else if (opt == "--share") vm.shares.push_back(a.value());
    else if (opt == "--cmdline") vm.cmdline_extra = a.value();
    else if (opt == "--timings") { a.flag(); vm.timings = true; }
    else if (opt == "--verbose" || opt == "-v") { a.flag(); vm.verbose = true; }
    else if (opt == "--force-kvm") { a.flag(); vm.force_kvm = true; }
    else if (opt == "--seccomp") vm.seccomp = parse_seccomp_option(a.value());
    else a.unknown(opt);
  }
  if (vm.kernel.empty()) throw UsageError("exec: missing --kernel FILE (see 'amber exec --help')");
  if (r.command.empty() || r.command[0].empty())
    throw UsageError("exec: missing the command to run: amber exec --kernel FILE -- CMD [ARGS...]");
  if (vm.mem_bytes < (64ull << 20)) throw UsageError("exec: --mem must be at least 64M");
  for (auto& d : r.rwdirs)
    if (d.empty()) throw UsageError("exec: --rwdir needs a directory");
  // Each --rwdir is a share of its own, beside amber's two (the root and the
  // status share); together as many as `run` allows --share.
  if (r.rwdirs.size() + vm.shares.size() > 8) throw UsageError("exec: at most 8 --rwdir and --share together");
  return r;
}

Command parse_kconfig(ArgScanner& a) {
  while (!a.done()) {
    auto o = a.next_option();
    if (!o) throw UsageError(fmt::format("kconfig: unexpected argument '{}'", a.positional("argument")));
    if (is_help(*o)) return HelpArgs{kKconfigHelp};
    a.unknown(*o);
  }
  return KconfigArgs{};
}

}  // namespace amber::cli
