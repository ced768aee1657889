#pragma once
// Parsed command lines of every subcommand. Parsing is pure (unit-tested);
// bad input throws UsageError, which main() turns into exit status 2.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "sandbox/jail.h"

namespace amber::cli {

struct SaveArgs {
  std::string on_serial;
  std::string path;
  bool then_continue = false;
  bool compress = false;
};

// --gdb ENDPOINT [--gdb-wait] (docs/debugging.md): "PORT" on 127.0.0.1,
// or "unix:PATH"; empty: no stub.
struct GdbArgs {
  std::string endpoint;
  bool wait = false;
};

// A file handed to the kernel: --initrd FILE or --module FILE[,ARGS].
struct ModuleArg {
  std::string option;  // "--initrd" or "--module", for messages
  std::string path, args;
  // The module's string in the multiboot information: as QEMU gives it,
  // the file name, then a space and the arguments if any.
  std::string multiboot_string() const { return args.empty() ? path : path + " " + args; }
  bool operator==(const ModuleArg&) const = default;
};

struct RunArgs {
  std::string kernel, bare;
  // In command-line order. A Linux kernel takes one --initrd and no
  // --module; a multiboot kernel takes them all, in this order (checked by
  // check_modules() once the kernel's format is known).
  std::vector<ModuleArg> modules;
  std::string cmdline_extra;
  uint32_t cpus = 1;
  uint64_t mem_bytes = 256ull << 20;
  std::vector<std::string> disks;  // raw --disk specs
  std::vector<std::string> shares; // raw --share specs: HOSTDIR[,tag=NAME][,ro] (virtio-9p)
  bool rng = true;                 // --no-rng leaves the virtio-rng device out
  uint16_t debug_exit_port = 0;    // --debug-exit[=PORT]: QEMU's isa-debug-exit there; 0: none
  SaveArgs save;
  std::string api;  // --api PATH: control socket
  GdbArgs gdb;
  bool timings = false, verbose = false;
  bool force_kvm = false;  // --force-kvm: boot a Linux kernel even where `amber doctor` says it cannot run
  // --seccomp=on|log|off (src/sandbox/syscall_filter.h); empty: not given, then
  // $AMBER_SECCOMP, else on (seccomp_mode_of()).
  std::string seccomp;
  // --jail DIR and its --jail-* options (src/sandbox/jail.h); jail.dir empty: none.
  sandbox::JailConfig jail;
};

struct ResumeArgs {
  std::string image;
  std::map<std::string, std::string> overlays;  // disk name -> overlay path
  SaveArgs save;
  std::string api;
  GdbArgs gdb;
  bool timings = false, verbose = false;
  bool force_kvm = false;  // --force-kvm: resume a Linux guest even where `amber doctor` says it cannot run
  std::string seccomp;     // as RunArgs::seccomp
  sandbox::JailConfig jail;  // as RunArgs::jail
  std::string pool;        // --pool SOCKET: resumed by a warm VM of `amber pool` (docs/pool.md)
};

// amber pool SOCKET [--size N] [--cpus N] [--mem SIZE] [--like IMAGE] [--jail DIR ...]
// (docs/pool.md): keeps `size` processes each holding a warm VM.
struct PoolArgs {
  std::string socket;
  uint32_t size = 2;
  uint32_t cpus = 1;
  uint64_t mem_bytes = 256ull << 20;
  std::string like;  // take cpus and mem from this image
  // --jail DIR and its options: every worker jails itself before it makes
  // its warm VM; requests' paths are then inside DIR (docs/pool.md).
  sandbox::JailConfig jail;
};

struct InspectArgs {
  std::string image;
  bool json = false;
};

struct VerifyArgs {
  std::string image;
};

// amber dump IMAGE --elf OUT (docs/debugging.md)
struct DumpArgs {
  std::string image;
  std::string elf;  // the core file to write
};

// amber ctl SOCKET CMD [key=value...]
struct CtlArgs {
  std::string socket, cmd;
  std::vector<std::pair<std::string, std::string>> params;
};

// amber doctor [--json]
struct DoctorArgs {
  bool json = false;
  bool probe = true;  // --no-probe: facts only, no probe guest
  std::string device = "/dev/kvm";
};

// amber exec --kernel FILE [OPTIONS] -- CMD [ARGS...] (docs/exec.md). `vm`
// holds the options it shares with run (kernel, cpus, mem, shares, cmdline,
// verbose, timings, force_kvm); cmd_exec adds its own shares and initramfs.
struct ExecArgs {
  RunArgs vm;
  std::vector<std::string> rwdirs;   // --rwdir DIR, as given
  std::vector<std::string> command;  // CMD ARGS...
};

// amber kconfig
struct KconfigArgs {};

struct HelpArgs {
  std::string text;
};

using Command =
    std::variant<HelpArgs, RunArgs, ResumeArgs, InspectArgs, VerifyArgs, DumpArgs, CtlArgs, DoctorArgs, ExecArgs,
                 KconfigArgs, PoolArgs>;

Command parse_command_line(const std::vector<std::string>& argv);

// The value of --seccomp=MODE: "on", "log" or "off", else UsageError.
std::string parse_seccomp_option(const std::string& value);

// --jail-user UID[:GID] (numbers; GID defaults to UID; not 0, the jail
// drops root) and --jail-limit nofile=N,fsize=BYTES,as=BYTES (sizes as
// --mem: 512M, 2G), into `cfg`. UsageError otherwise.
void parse_jail_user(const std::string& value, sandbox::JailConfig& cfg);
void parse_jail_limits(const std::string& value, sandbox::JailConfig& cfg);

// The port of --debug-exit[=PORT]: layout::kDebugExitPort without a value;
// else hex (0x...) or decimal, a window of layout::kDebugExitSize ports in
// 1..0xffff that overlaps none of amber's own ports (UART, i8042, CMOS, POST,
// the control port, fw_cfg). UsageError otherwise.
uint16_t parse_debug_exit_port(const std::optional<std::string>& value);

// UsageError unless `modules` suit a kernel of this kind: a Linux kernel
// (bzImage, PVH) takes at most one --initrd and no --module.
void check_modules(const std::vector<ModuleArg>& modules, bool linux_kernel);

// The guest's kernel command line for a fresh boot: amber's defaults, the
// virtio_mmio.device= arguments of the Machine's registered virtio devices
// (vmm::Machine::virtio_cmdline()), then the user's `extra`.
std::string compose_cmdline(const std::string& extra, const std::string& virtio_devices);

}  // namespace amber::cli
