#include "cli/options.h"

#include <fmt/core.h>

#include <charconv>
#include <string>

#include "amber/error.h"
#include "amber/layout.h"
#include "cli/args.h"
#include "cli/exec_options.h"
#include "cli/help.h"

namespace amber::cli {

namespace {

// Shared by run and resume. Returns false when `opt` is not a save option.
bool parse_save_option(ArgScanner& a, const std::string& opt, SaveArgs& s) {
  if (opt == "--save-on-serial") {
    s.on_serial = a.value();
    if (s.on_serial.empty()) throw UsageError(a.command() + ": --save-on-serial needs a non-empty text");
  } else if (opt == "--save") {
    s.path = a.value();
  } else if (opt == "--then") {
    auto v = a.value();
    if (v == "exit") s.then_continue = false;
    else if (v == "continue") s.then_continue = true;
    else throw UsageError(fmt::format("{}: --then takes 'exit' or 'continue', not '{}'", a.command(), v));
  } else if (opt == "--compress") {
    a.flag();
    s.compress = true;
  } else {
    return false;
  }
  return true;
}

// --save without --save-on-serial is allowed: the guest then asks for the
// save itself through a doorbell (docs/api.md).
void check_save(const std::string& cmd, const SaveArgs& s) {
  if (!s.on_serial.empty() && s.path.empty()) throw UsageError(cmd + ": --save-on-serial needs --save IMAGE");
}

// --gdb and --gdb-wait, shared by run and resume; false when `opt` is neither.
bool parse_gdb_option(ArgScanner& a, const std::string& opt, GdbArgs& g) {
  if (opt == "--gdb") {
    g.endpoint = a.value();
    const std::string& e = g.endpoint;
    bool unix_path = e.rfind("unix:", 0) == 0 && e.size() > 5 && e.size() - 5 <= 107;
    bool port = !e.empty() && e.size() <= 5 && e.find_first_not_of("0123456789") == std::string::npos &&
                std::stoul(e) <= 65535;
    if (!unix_path && !port)
      throw UsageError(fmt::format("{}: --gdb takes a TCP port (0-65535) or unix:PATH (at most 107 bytes), not '{}'",
                                   a.command(), e));
  } else if (opt == "--gdb-wait") {
    a.flag();
    g.wait = true;
  } else {
    return false;
  }
  return true;
}

void check_gdb(const std::string& cmd, const GdbArgs& g) {
  if (g.wait && g.endpoint.empty()) throw UsageError(cmd + ": --gdb-wait needs --gdb PORT|unix:PATH");
}

void check_api(const std::string& cmd, const std::string& api) {
  if (api.empty()) return;
  if (api.size() > 107) throw UsageError(cmd + ": --api: the socket path is longer than 107 bytes");
}

// --jail DIR and the options that need it, shared by run and resume; false
// when `opt` is none of them. `jail_only` records the first --jail-* seen,
// for check_jail().
bool parse_jail_option(ArgScanner& a, const std::string& opt, sandbox::JailConfig& j, std::string& jail_only) {
  if (opt == "--jail") {
    j.dir = a.value();
    if (j.dir.empty()) throw UsageError(a.command() + ": --jail needs a directory");
    return true;
  }
  if (opt == "--jail-user") parse_jail_user(a.value(), j);
  else if (opt == "--jail-limit") parse_jail_limits(a.value(), j);
  else if (opt == "--jail-cgroup") {
    j.cgroup = a.value();
    if (j.cgroup.empty()) throw UsageError(a.command() + ": --jail-cgroup needs a cgroup v2 directory");
  } else {
    return false;
  }
  if (jail_only.empty()) jail_only = opt;
  return true;
}

void check_jail(const std::string& cmd, const sandbox::JailConfig& j, const std::string& jail_only,
                const GdbArgs& gdb) {
  if (j.dir.empty()) {
    if (!jail_only.empty()) throw UsageError(fmt::format("{}: {} needs --jail DIR", cmd, jail_only));
    return;
  }
  // The jail has a network namespace of its own: a TCP port there cannot be
  // reached from the host.
  if (!gdb.endpoint.empty() && gdb.endpoint.rfind("unix:", 0) != 0)
    throw UsageError(cmd + ": --gdb PORT cannot be reached in --jail's network namespace; use --gdb unix:PATH "
                           "(a path inside the jail)");
}

}  // namespace

void parse_jail_user(const std::string& value, sandbox::JailConfig& cfg) {
  auto colon = value.find(':');
  std::string u = value.substr(0, colon), g = colon == std::string::npos ? u : value.substr(colon + 1);
  auto id = [&](const std::string& text, const char* what) {
    // Numbers only: names would need the host's /etc/passwd. 0 would keep
    // root; 4294967295 is (uid_t)-1, "unchanged" to setresuid.
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 10)
      throw UsageError(fmt::format("--jail-user takes UID[:GID] as numbers, not '{}'", value));
    uint64_t n = std::stoull(text);
    if (n == 0) throw UsageError(fmt::format("--jail-user {}: the jail drops root; give a {} other than 0", value, what));
    if (n >= 0xffffffffull) throw UsageError(fmt::format("--jail-user {}: {} out of range", value, what));
    return uint32_t(n);
  };
  cfg.uid = id(u, "uid");
  cfg.gid = id(g, "gid");
}

void parse_jail_limits(const std::string& value, sandbox::JailConfig& cfg) {
  if (value.empty()) throw UsageError("--jail-limit takes nofile=N,fsize=BYTES,as=BYTES (any of them)");
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    std::string item = value.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    auto eq = item.find('=');
    if (eq == std::string::npos || eq + 1 == item.size())
      throw UsageError(fmt::format("--jail-limit: expected NAME=VALUE, not '{}'", item));
    std::string key = item.substr(0, eq), v = item.substr(eq + 1);
    if (key == "nofile") cfg.nofile = parse_uint(v, "--jail-limit nofile", 16, 1u << 20);
    else if (key == "fsize") cfg.fsize = parse_size(v, "--jail-limit fsize");
    else if (key == "as") cfg.as = parse_size(v, "--jail-limit as");
    else throw UsageError(fmt::format("--jail-limit: unknown limit '{}' (nofile, fsize or as)", key));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
}

std::string parse_seccomp_option(const std::string& value) {
  if (value == "on" || value == "log" || value == "off") return value;
  throw UsageError(fmt::format("--seccomp takes on, log or off, not '{}'", value));
}

uint16_t parse_debug_exit_port(const std::optional<std::string>& value) {
  if (!value) return layout::kDebugExitPort;
  const std::string& v = *value;
  uint64_t port = 0;
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) {
    const char* b = v.data() + 2;
    const char* e = v.data() + v.size();
    auto [p, ec] = std::from_chars(b, e, port, 16);
    if (ec != std::errc() || p != e) throw UsageError(fmt::format("run: --debug-exit: '{}' is not a port number", v));
  } else {
    port = parse_uint(v, "run: --debug-exit", 1, 0xffff);
  }
  uint64_t end = port + layout::kDebugExitSize;  // the window is [port, end)
  if (port < 1 || end > 0x10000)
    throw UsageError(fmt::format("run: --debug-exit: port {:#x} is out of range 0x1..{:#x}", port,
                                 0x10000 - layout::kDebugExitSize));
  struct Used {
    uint64_t base, size;
    const char* what;
  };
  static constexpr Used kUsed[] = {
      {layout::kCom1Port, 8, "the UART"},
      {layout::kI8042Port, 5, "the i8042"},
      {layout::kCmosPort, 2, "the CMOS"},
      {layout::kPostPort, 1, "the POST port"},
      {layout::kAmberCtlPort, 4, "amber's control port"},
      {layout::kFwCfgPort, layout::kFwCfgSize, "the fw_cfg ports (amber's old control port)"},
  };
  for (auto& u : kUsed)
    if (port < u.base + u.size && u.base < end)
      throw UsageError(fmt::format("run: --debug-exit: ports {:#x}-{:#x} overlap {} at {:#x}-{:#x}", port, end - 1,
                                   u.what, u.base, u.base + u.size - 1));
  return uint16_t(port);
}

namespace {

bool is_help(const std::string& opt) { return opt == "--help" || opt == "-h"; }

// --module FILE[,ARGS]: the arguments follow the first comma.
ModuleArg parse_module(const std::string& v) {
  size_t comma = v.find(',');
  ModuleArg m{"--module", v.substr(0, comma), comma == std::string::npos ? "" : v.substr(comma + 1)};
  if (m.path.empty()) throw UsageError(fmt::format("run: --module '{}': no file name before the comma", v));
  return m;
}

Command parse_run(ArgScanner& a) {
  RunArgs r;
  std::string jail_only;
  while (!a.done()) {
    auto o = a.next_option();
    if (!o) throw UsageError(fmt::format("run: unexpected argument '{}'", a.positional("argument")));
    const std::string& opt = *o;
    if (is_help(opt)) return HelpArgs{kRunHelp};
    if (opt == "--kernel") r.kernel = a.value();
    else if (opt == "--initrd") r.modules.push_back({"--initrd", a.value(), {}});
    else if (opt == "--module") r.modules.push_back(parse_module(a.value()));
    else if (opt == "--bare") r.bare = a.value();
    else if (opt == "--cmdline") r.cmdline_extra = a.value();
    else if (opt == "--cpus") r.cpus = uint32_t(parse_uint(a.value(), "--cpus", 1, 32));
    else if (opt == "--mem") r.mem_bytes = parse_size(a.value(), "--mem");
    else if (opt == "--disk") r.disks.push_back(a.value());
    else if (opt == "--share") r.shares.push_back(a.value());
    else if (opt == "--no-rng") { a.flag(); r.rng = false; }
    else if (opt == "--debug-exit") r.debug_exit_port = parse_debug_exit_port(a.inline_value());
    else if (opt == "--api") r.api = a.value();
    else if (opt == "--timings") { a.flag(); r.timings = true; }
    else if (opt == "--verbose" || opt == "-v") { a.flag(); r.verbose = true; }
    else if (opt == "--force-kvm") { a.flag(); r.force_kvm = true; }
    else if (opt == "--seccomp") r.seccomp = parse_seccomp_option(a.value());
    else if (!parse_save_option(a, opt, r.save) && !parse_gdb_option(a, opt, r.gdb) &&
             !parse_jail_option(a, opt, r.jail, jail_only))
      a.unknown(opt);
  }
  if (r.kernel.empty() == r.bare.empty()) throw UsageError("run: give exactly one of --kernel FILE or --bare FILE");
  if (!r.bare.empty() && (!r.modules.empty() || !r.cmdline_extra.empty()))
    throw UsageError("run: --initrd, --module and --cmdline apply to --kernel only");
  if (r.disks.size() > 16) throw UsageError("run: at most 16 disks");
  if (r.shares.size() > 8) throw UsageError("run: at most 8 shares");
  check_save("run", r.save);
  check_api("run", r.api);
  check_gdb("run", r.gdb);
  check_jail("run", r.jail, jail_only, r.gdb);
  return r;
}

Command parse_resume(ArgScanner& a) {
  ResumeArgs r;
  std::string jail_only;
  while (!a.done()) {
    auto o = a.next_option();
    if (!o) {
      if (!r.image.empty()) throw UsageError(fmt::format("resume: unexpected argument '{}'", a.positional("argument")));
      r.image = a.positional("IMAGE");
      continue;
    }
    const std::string& opt = *o;
    if (is_help(opt)) return HelpArgs{kResumeHelp};
    if (opt == "--disk-overlay") {
      auto v = a.value();
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
        throw UsageError(fmt::format("resume: --disk-overlay takes NAME=PATH, not '{}'", v));
      r.overlays[v.substr(0, eq)] = v.substr(eq + 1);
    } else if (opt == "--api") r.api = a.value();
    else if (opt == "--timings") { a.flag(); r.timings = true; }
    else if (opt == "--verbose" || opt == "-v") { a.flag(); r.verbose = true; }
    else if (opt == "--force-kvm") { a.flag(); r.force_kvm = true; }
    else if (opt == "--seccomp") r.seccomp = parse_seccomp_option(a.value());
    else if (opt == "--pool") r.pool = a.value();
    else if (!parse_save_option(a, opt, r.save) && !parse_gdb_option(a, opt, r.gdb) &&
             !parse_jail_option(a, opt, r.jail, jail_only))
      a.unknown(opt);
  }
  if (r.image.empty()) throw UsageError("resume: missing IMAGE (see 'amber resume --help')");
  // The pool's processes are set up before any request: not in a jail made
  // for this one (docs/pool.md).
  if (!r.pool.empty() && !r.jail.dir.empty()) throw UsageError("resume: --pool and --jail cannot be combined");
  check_save("resume", r.save);
  check_api("resume", r.api);
  check_gdb("resume", r.gdb);
  check_jail("resume", r.jail, jail_only, r.gdb);
  return r;
}

template <class T>
Command parse_image_command(ArgScanner& a, const char* help, bool json_allowed) {
  T r;
  while (!a.done()) {
    auto o = a.next_option();
    if (!o) {
      if (!r.image.empty()) throw UsageError(fmt::format("{}: unexpected argument '{}'", a.command(), a.positional("argument")));
      r.image = a.positional("IMAGE");
      continue;
    }
    if (is_help(*o)) return HelpArgs{help};
    if constexpr (std::is_same_v<T, InspectArgs>) {
      if (json_allowed && *o == "--json") {
        a.flag();
        r.json = true;
        continue;
      }
    }
    a.unknown(*o);
  }
  if (r.image.empty()) throw UsageError(fmt::format("{}: missing IMAGE (see 'amber {} --help')", a.command(), a.command()));
  return r;
}

Command parse_dump(ArgScanner& a) {
  DumpArgs r;
  while (!a.done()) {
    auto o = a.next_option();
    if (!o) {
      if (!r.image.empty()) throw UsageError(fmt::format("dump: unexpected argument '{}'", a.positional("argument")));
      r.image = a.positional("IMAGE");
      continue;
    }
    if (is_help(*o)) return HelpArgs{kDumpHelp};
    if (*o == "--elf") {
      r.elf = a.value();
      if (r.elf.empty()) throw UsageError("dump: --elf needs a file name");
    } else {
      a.unknown(*o);
    }
  }
  if (r.image.empty()) throw UsageError("dump: missing IMAGE (see 'amber dump --help')");
  if (r.elf.empty()) throw UsageError("dump: missing --elf OUT, the core file to write (see 'amber dump --help')");
  return r;
}

Command parse_ctl(ArgScanner& a) {
  CtlArgs r;
  while (!a.done()) {
    auto o = a.next_option();
    if (o) {
      if (is_help(*o)) return HelpArgs{kCtlHelp};
      a.unknown(*o);
    }
    std::string arg = a.positional("argument");
    if (r.socket.empty()) {
      r.socket = arg;
    } else if (r.cmd.empty()) {
      r.cmd = arg;
    } else {
      auto eq = arg.find('=');
      if (eq == std::string::npos || eq == 0) throw UsageError(fmt::format("ctl: expected key=value, not '{}'", arg));
      r.params.emplace_back(arg.substr(0, eq), arg.substr(eq + 1));
    }
  }
  if (r.cmd.empty()) throw UsageError("ctl: usage: amber ctl SOCKET COMMAND [key=value...] (see 'amber ctl --help')");
  return r;
}

Command parse_pool(ArgScanner& a) {
  PoolArgs r;
  bool shape_given = false;
  std::string jail_only;
  while (!a.done()) {
    auto o = a.next_option();
    if (!o) {
      if (!r.socket.empty()) throw UsageError(fmt::format("pool: unexpected argument '{}'", a.positional("argument")));
      r.socket = a.positional("SOCKET");
      continue;
    }
    if (is_help(*o)) return HelpArgs{kPoolHelp};
    if (*o == "--size") r.size = uint32_t(parse_uint(a.value(), "pool: --size", 1, 64));
    else if (*o == "--cpus") { r.cpus = uint32_t(parse_uint(a.value(), "--cpus", 1, 32)); shape_given = true; }
    else if (*o == "--mem") { r.mem_bytes = parse_size(a.value(), "--mem"); shape_given = true; }
    else if (*o == "--like") r.like = a.value();
    else if (!parse_jail_option(a, *o, r.jail, jail_only)) a.unknown(*o);
  }
  if (r.socket.empty()) throw UsageError("pool: missing SOCKET (see 'amber pool --help')");
  check_jail("pool", r.jail, jail_only, GdbArgs{});
  if (!r.like.empty() && shape_given) throw UsageError("pool: --like IMAGE takes the vCPUs and RAM from IMAGE; drop --cpus/--mem");
  return r;
}

Command parse_doctor(ArgScanner& a) {
  DoctorArgs r;
  while (!a.done()) {
    auto o = a.next_option();
    if (!o) throw UsageError(fmt::format("doctor: unexpected argument '{}'", a.positional("argument")));
    if (is_help(*o)) return HelpArgs{kDoctorHelp};
    if (*o == "--json") { a.flag(); r.json = true; }
    else if (*o == "--no-probe") { a.flag(); r.probe = false; }
    else if (*o == "--device") r.device = a.value();
    else a.unknown(*o);
  }
  if (r.device.empty()) throw UsageError("doctor: --device needs a path");
  return r;
}

}  // namespace

Command parse_command_line(const std::vector<std::string>& argv) {
  if (argv.empty()) throw UsageError("missing command (see 'amber --help')");
  const std::string& cmd = argv[0];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") return HelpArgs{kMainHelp};
  if (cmd == "--version") return HelpArgs{"amber " AMBER_VERSION "\n"};
  ArgScanner a(cmd, {argv.begin() + 1, argv.end()});
  if (cmd == "run") return parse_run(a);
  if (cmd == "resume") return parse_resume(a);
  if (cmd == "inspect") return parse_image_command<InspectArgs>(a, kInspectHelp, true);
  if (cmd == "verify") return parse_image_command<VerifyArgs>(a, kVerifyHelp, false);
  if (cmd == "dump") return parse_dump(a);
  if (cmd == "ctl") return parse_ctl(a);
  if (cmd == "doctor") return parse_doctor(a);
  if (cmd == "exec") return parse_exec(a);
  if (cmd == "kconfig") return parse_kconfig(a);
  if (cmd == "pool") return parse_pool(a);
  throw UsageError(fmt::format("unknown command '{}' (see 'amber --help')", cmd));
}

void check_modules(const std::vector<ModuleArg>& modules, bool linux_kernel) {
  if (!linux_kernel) return;
  for (const ModuleArg& m : modules)
    if (m.option != "--initrd")
      throw UsageError(fmt::format("run: {} {}: modules are for multiboot kernels; a Linux kernel takes one --initrd",
                                   m.option, m.path));
  if (modules.size() > 1)
    throw UsageError(fmt::format("run: {} --initrd files given; a Linux kernel takes one (several are for "
                                 "multiboot kernels)",
                                 modules.size()));
}

std::string compose_cmdline(const std::string& extra, const std::string& virtio_devices) {
  // reboot=k: reboot through the i8042 (0xFE to port 0x64), which ends the
  // VM cleanly; panic=-1: reboot at once on a panic instead of hanging.
  std::string s = "console=ttyS0 reboot=k panic=-1";
  if (!virtio_devices.empty()) s += " " + virtio_devices;
  if (!extra.empty()) s += " " + extra;
  return s;
}

}  // namespace amber::cli
