#include "cli/exec_command.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string_view>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/layout.h"
#include "amber/unique_fd.h"
#include "cli/doctor.h"
#include "exec/exec_status.h"
#include "exec/initramfs.h"
#include "kvm/kvm_system.h"

namespace amber::cli {

namespace {

constexpr const char* kRootTag = "amber-root";
constexpr const char* kStatusTag = "amber-status";
// The variables the command gets from amber's environment (docs/exec.md).
constexpr const char* kPassedEnv[] = {"PATH", "HOME", "TERM", "LANG", "USER", "LOGNAME"};

// A private host directory for the status file (the fallback report of
// amber-init where the guest kernel has no ioperm), removed at the end.
class StatusDir {
 public:
  StatusDir() {
    const char* tmp = getenv("TMPDIR");
    std::string templ = fmt::format("{}/amber-exec-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(templ.data())) throw SysError(fmt::format("exec: creating a directory like {}", templ), errno);
    path_ = templ;
  }
  // The guest may have left anything there (it is a writable share):
  // remove_all removes symlinks, never what they point to.
  ~StatusDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  StatusDir(const StatusDir&) = delete;
  StatusDir& operator=(const StatusDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file() const { return path_ + "/status"; }

  // The status amber-init wrote, or nullopt (after saying why) when there is
  // none or it is not one. Guest-controlled: a regular file only (no
  // symlink out of the directory is followed), at most a few bytes read.
  std::optional<int> read_status() const {
    UniqueFd fd(::open(file().c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) return std::nullopt;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      fmt::print(stderr, "amber: exec: the guest's status file is not a regular file\n");
      return std::nullopt;
    }
    char buf[16];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    auto v = n > 0 ? exec::status_from_file(std::string_view(buf, size_t(n))) : std::nullopt;
    if (!v) fmt::print(stderr, "amber: exec: the guest's status file holds no status (0..255)\n");
    return v;
  }

 private:
  std::string path_;
};

std::string real_dir(const std::string& dir, const char* what) {
  char buf[PATH_MAX];
  if (!realpath(dir.c_str(), buf)) throw SysError(fmt::format("exec: {} {}", what, dir), errno);
  struct stat st {};
  if (::stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) throw Error(fmt::format("exec: {} {}: not a directory", what, dir));
  std::string p = buf;
  // The share spec is comma-separated (HOSTDIR[,tag=NAME][,ro]).
  if (p.find(',') != std::string::npos)
    throw Error(fmt::format("exec: {} {}: paths with a ',' cannot be shared", what, p));
  return p;
}

std::string current_dir() {
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof buf)) throw SysError("exec: getcwd", errno);
  return buf;
}

}  // namespace

int cmd_exec(const ExecArgs& a) {
  // At once, before anything is read: a Linux guest on a KVM that cannot
  // run it (PVM) would spin silently.
  if (!a.vm.force_kvm) require_linux_capable_kvm(kvm::KvmSystem::kDefaultPath);
  exec::ExecConfig cfg;
  cfg.root_tag = kRootTag;
  cfg.status_tag = kStatusTag;
  cfg.status_port = layout::kDebugExitPort;
  cfg.cwd = current_dir();
  cfg.verbose = a.vm.verbose;
  cfg.tty_raw_out = !isatty(STDOUT_FILENO);
  cfg.tty_noecho = !isatty(STDIN_FILENO);
  cfg.argv = a.command;
  for (const char* name : kPassedEnv)
    if (const char* v = getenv(name)) cfg.env.push_back(fmt::format("{}={}", name, v));

  StatusDir status;
  RunArgs vm = a.vm;
  // amber's shares first (the root, the status share), then the --rwdirs,
  // then the user's own --share.
  std::vector<std::string> shares = {fmt::format("/,tag={},ro", kRootTag),
                                     fmt::format("{},tag={}", status.path(), kStatusTag)};
  for (size_t i = 0; i < a.rwdirs.size(); ++i) {
    std::string dir = real_dir(a.rwdirs[i], "--rwdir");
    std::string tag = fmt::format("amber-rw{}", i);
    shares.push_back(fmt::format("{},tag={}", dir, tag));
    cfg.rwdirs.push_back({tag, dir});
  }
  shares.insert(shares.end(), a.vm.shares.begin(), a.vm.shares.end());
  vm.shares = std::move(shares);
  vm.debug_exit_port = layout::kDebugExitPort;
  // quiet: only errors from the kernel; rdinit: amber-init (the default,
  // named so a kernel with a built-in initramfs still runs it).
  std::string extra = a.vm.verbose ? "rdinit=/init" : "quiet rdinit=/init";
  vm.cmdline_extra = a.vm.cmdline_extra.empty() ? extra : extra + " " + a.vm.cmdline_extra;

  auto initramfs = exec::build_exec_initramfs(cfg);
  auto out = boot_and_run(vm, initramfs);
  switch (out.reason) {
    case vmm::StopReason::kGuestExit:
      if (auto v = exec::status_from_debug_exit(out.guest_status)) return *v;
      break;
    case vmm::StopReason::kGuestReset:
      if (auto v = status.read_status()) return *v;
      break;
    case vmm::StopReason::kError: return 1;  // logged by run_machine
    case vmm::StopReason::kSignal:
    case vmm::StopReason::kQuit:
      return 130;
    default: break;
  }
  fmt::print(stderr,
             "amber: exec: the guest ended without reporting the command's exit status (see its output above; "
             "'amber kconfig' lists the kernel options exec needs)\n");
  return exec::kStatusNoReport;
}

}  // namespace amber::cli
