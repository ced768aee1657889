#include "cli/commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/log.h"
#include "amber/mapping.h"
#include "amber/thread_role.h"
#include "amber/unique_fd.h"
#include "api/api_client.h"
#include "api/api_server.h"
#include "api/machine_api.h"
#include "api/protocol.h"
#include "cli/doctor.h"
#include "cli/exec_command.h"
#include "cli/options.h"
#include "cli/pool.h"
#include "cli/timings.h"
#include "exec/kconfig.h"
#include "firmware/kernel_loader.h"
#include "firmware/memory_map.h"
#include "firmware/multiboot.h"
#include "gdb/stub.h"
#include "kvm/backend.h"
#include "kvm/kvm_hypervisor.h"
#include "snapshot/elf_core.h"
#include "snapshot/hot_chunks.h"
#include "sandbox/jail.h"
#include "sandbox/syscall_filter.h"
#include "snapshot/image.h"
#include "virtio/disk/disk_spec.h"
#include "virtio/p9/share_spec.h"
#include "vmm/machine.h"
#include "vmm/machine_config_state.h"
#include "vmm/image_lease.h"
#include "vmm/resume.h"

namespace amber::cli {

namespace {

// A whole input file (kernel, initrd, bare-metal guest) in memory.
struct FileBytes {
  Mapping buf;
  size_t size = 0;
  std::span<const uint8_t> bytes() const { return {buf.data(), size}; }
  bool empty() const { return size == 0; }
};

FileBytes read_file(const std::string& path, const char* what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SysError(fmt::format("{} {}", what, path), errno);
  UniqueFd owner(fd);
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) throw Error(fmt::format("{} {}: is a directory", what, path));
  // One buffer of the file's size (grown only for pipes), faulted in with
  // one call before read() fills it: reading a 17 MB vmlinux into a fresh
  // buffer page by page cost 1.2-3 s in the sandbox, mostly page faults.
  FileBytes f;
  size_t expected = st.st_size > 0 ? size_t(st.st_size) : 0;
  f.buf = Mapping::anonymous(expected + (1 << 16));  // room to see EOF without growing
  populate_for_write(f.buf.data(), expected);
  for (;;) {
    if (f.size == f.buf.size()) {  // a pipe or a file that grew: double
      Mapping bigger = Mapping::anonymous(f.buf.size() * 2);
      std::memcpy(bigger.data(), f.buf.data(), f.size);
      f.buf = std::move(bigger);
    }
    ssize_t n = ::read(fd, f.buf.data() + f.size, f.buf.size() - f.size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw SysError(fmt::format("{} {}", what, path), errno);
    }
    if (n == 0) break;
    f.size += size_t(n);
  }
  if (f.empty()) throw Error(fmt::format("{} {}: file is empty", what, path));
  return f;
}

// The signals a run watches, blocked in every thread: SIGINT/SIGTERM/SIGHUP
// stop the VM cleanly; the image lease's break (vmm/image_lease.h) stops it
// with an error.
sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, vmm::image_lease_signal());
  return set;
}

// Reads the watched signals from a signalfd. `image`: the file a resumed
// VM runs from, for the lease-break message.
class SignalWatcher {
 public:
  explicit SignalWatcher(vmm::Machine& m, std::string image = {}) {
    sigset_t set = watched_signals();
    // Shared with the reader thread, which may outlive this object (see the
    // destructor): the fd closes when both are done with it.
    fd_ = std::make_shared<UniqueFd>(check_sys(signalfd(-1, &set, SFD_CLOEXEC), "signalfd"));
    thread_ = std::thread([fd = fd_, &m, image = std::move(image)] {
      enter_thread_role(ThreadRole::kSignals);
      signalfd_siginfo si;
      if (::read(fd->get(), &si, sizeof si) != sizeof si || si.ssi_signo == 0) return;
      if (static_cast<int>(si.ssi_signo) == vmm::image_lease_signal())
        m.request_stop(vmm::StopReason::kError,
                       fmt::format("{}: another process is writing or truncating the image this VM runs from; "
                                   "stopped before it could change the guest's memory or disks (images are "
                                   "replaced by rename, never edited in place: docs/image-format.md)",
                                   image));
      else
        m.request_stop(vmm::StopReason::kSignal);
    });
  }
  // The reader may still be blocked in read(); it holds no resources the
  // exiting process needs, so it is left to end with the process.
  ~SignalWatcher() { thread_.detach(); }

 private:
  std::shared_ptr<UniqueFd> fd_;
  std::thread thread_;
};

// --seccomp, else $AMBER_SECCOMP (for running whole test suites in log
// mode), else on.
sandbox::SeccompMode seccomp_mode_of(const std::string& option) {
  std::string v = option;
  if (v.empty()) {
    const char* env = std::getenv("AMBER_SECCOMP");
    v = env && *env ? env : "on";
  }
  auto mode = sandbox::parse_seccomp_mode(v);
  if (!mode) throw Error(fmt::format("AMBER_SECCOMP: expected on, log or off, not '{}'", v));
  return *mode;
}

void block_stop_signals() {
  sigset_t set = watched_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

GuestMemory anonymous_ram(uint64_t mem_bytes) {
  GuestMemory mem;
  for (auto& r : x86::ram_layout(mem_bytes)) mem.add_region(r.gpa, Mapping::anonymous(r.size));
  return mem;
}

// "amber: saving 123.4/456.7 MiB (89.1 MiB/s)" on a terminal, for saves
// that take longer than a second; redrawn at most 4 times a second. The
// console may be in raw mode, hence the explicit \r. start() begins each save.
class SaveProgressLine {
 public:
  void start() {
    t0_ = std::chrono::steady_clock::now();
    last_ = {};
    drawn_ = false;
  }
  void update(uint64_t done, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - t0_).count();
    if (elapsed < 1.0 || (drawn_ && now - last_ < std::chrono::milliseconds(250) && done < total)) return;
    last_ = now;
    drawn_ = true;
    fmt::print(stderr, "\ramber: saving {:.1f}/{:.1f} MiB ({:.1f} MiB/s)  ", done / 1048576.0, total / 1048576.0,
               done / 1048576.0 / elapsed);
  }
  void finish() {
    if (drawn_) fmt::print(stderr, "\r\n");
    drawn_ = false;
  }

 private:
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now(), last_{};
  bool drawn_ = false;
};

vmm::RunOutcome run_machine(vmm::Machine& m, const SaveArgs& save, const std::string& api, const GdbArgs& gdb,
                            Timings& t, const std::string& image = {}) {
  vmm::RunOptions ro;
  ro.save_on_serial = save.on_serial;
  ro.save_path = save.path;
  ro.then_continue = save.then_continue;
  ro.compress = save.compress;
  // The terminal output of saves (the Machine reports, this prints).
  SaveProgressLine line;
  if (isatty(STDERR_FILENO)) {
    ro.progress.start = [&line] { line.start(); };
    ro.progress.update = [&line](uint64_t done, uint64_t total) { line.update(done, total); };
    ro.progress.finish = [&line] { line.finish(); };
  }
  ro.on_saved = [](const vmm::SaveResult& r) { fmt::print(stderr, "amber: saved {}\r\n", r.summary()); };
  ro.on_save_failed = [](const std::string& error) { log::error("{}", error); };
  // Created before any VM thread: it sets the umask briefly (api_server.cpp).
  // Destroyed before the Machine, answering what is still pending.
  std::unique_ptr<api::ApiServer> server;
  if (!api.empty()) server = std::make_unique<api::ApiServer>(api, api::machine_submitter(m));
  SignalWatcher signals(m, image);
  // Listening before the VM starts: a busy port fails the command at once.
  std::unique_ptr<gdb::Stub> stub;
  if (!gdb.endpoint.empty()) {
    stub = std::make_unique<gdb::Stub>(m, gdb.endpoint, gdb.wait, kvm::KvmSystem::kDefaultPath);
    ro.start_paused = gdb.wait;
    if (!stub->note().empty()) log::warn("gdb: {}", stub->note());
    fmt::print(stderr, "amber: gdb stub on {}{}\r\n", stub->address(),
               gdb.wait ? "; the vCPUs wait for gdb to continue them" : "");
  }
  // The main thread's allow-list, before the guest's first instruction: the
  // vCPU, I/O and console threads m.run() starts inherit it and load their
  // own (src/sandbox/syscall_filter.h).
  enter_thread_role(ThreadRole::kMain);
  t.mark("start vCPUs");
  t.print();
  auto out = m.run(ro);
  if (stub) stub->vm_ended(out.exit_status());
  if (server) server->stop();
  if (out.reason == vmm::StopReason::kError) log::error("{}", out.message);
  if (out.reason == vmm::StopReason::kSignal) log::info("stopped by a signal");
  if (out.reason == vmm::StopReason::kGuestExit)
    log::info("the guest ended amber through debug-exit: exit status {}", out.exit_status());
  return out;
}

// The format of the kernel file `path` (its bytes `kernel`); the loader's
// error names the file.
x86::KernelFormat detect_format(std::span<const uint8_t> kernel, const std::string& path) {
  try {
    return x86::detect_kernel_format(kernel);
  } catch (const Error& e) {
    throw Error(fmt::format("{} (kernel {})", e.what(), path));
  }
}

// The kernel's format from its headers, read through a private read-only
// mapping: only the header pages are touched, so a large vmlinux is not read
// in full before the KVM check. nullopt for what cannot be mapped (a pipe,
// an empty file): the caller reads it first.
std::optional<x86::KernelFormat> probe_kernel_format(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SysError(fmt::format("kernel {}", path), errno);
  UniqueFd owner(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) return std::nullopt;
  Mapping map = Mapping::file(fd, size_t(st.st_size), 0, PROT_READ, MAP_PRIVATE);
  return detect_format({map.data(), map.size()}, path);
}

}  // namespace

vmm::RunOutcome boot_and_run(const RunArgs& a, std::span<const uint8_t> initrd_image) {
  Timings t(a.timings);
  block_stop_signals();
  sandbox::setup_seccomp(seccomp_mode_of(a.seccomp));
  FileBytes kernel, bare;
  std::optional<x86::KernelFormat> format;
  if (!a.kernel.empty()) {
    format = probe_kernel_format(a.kernel);
    if (!format) {
      kernel = read_file(a.kernel, "kernel");
      format = detect_format(kernel.bytes(), a.kernel);
    }
    bool linux_kernel = x86::is_linux_format(*format);
    check_modules(a.modules, linux_kernel);
    // Before the files are read: a Linux kernel on a KVM that cannot run it
    // (PVM) would spin silently at 100% CPU. Multiboot kernels are
    // bare-metal guests and run there.
    if (linux_kernel && !a.force_kvm) require_linux_capable_kvm(kvm::KvmSystem::kDefaultPath);
    if (kernel.empty()) kernel = read_file(a.kernel, "kernel");
  }
  std::vector<FileBytes> module_files;
  std::vector<x86::BootModule> modules;
  for (const ModuleArg& m : a.modules) {
    module_files.push_back(read_file(m.path, m.option == "--initrd" ? "initrd" : "module"));
    modules.push_back({module_files.back().bytes(), m.multiboot_string()});
  }
  // amber exec's initramfs, made in memory (src/exec), in place of --initrd.
  if (!initrd_image.empty()) modules = {{initrd_image, "initramfs"}};
  if (!a.bare.empty()) bare = read_file(a.bare, "bare-metal guest");
  vmm::MachineConfig cfg;
  cfg.cpus = a.cpus;
  cfg.mem_bytes = a.mem_bytes;
  std::vector<std::unique_ptr<block::DiskBackend>> disks;
  for (size_t i = 0; i < a.disks.size(); ++i) {
    auto spec = block::DiskSpec::parse(a.disks[i]);
    std::string name = fmt::format("vd{}", char('a' + i));
    if (spec.id.empty()) spec.id = name;
    disks.push_back(block::open_disk(spec));
    cfg.disks.push_back({name, spec.id, disks.back()->read_only()});
  }
  cfg.shares = virtio::p9::parse_shares(a.shares);
  cfg.rng = a.rng;
  cfg.debug_exit_port = a.debug_exit_port;
  t.mark("read files");
  kvm::KvmHypervisor hv;
  vmm::Console console(STDIN_FILENO, STDOUT_FILENO);
  vmm::Machine m(hv, cfg, anonymous_ram(cfg.mem_bytes), std::move(disks), &console);
  // A Linux command line names the virtio devices the Machine registered;
  // it is composed before boot_kernel() loads it and is saved in images.
  // A multiboot kernel gets QEMU's: its file name, then --cmdline.
  if (format == x86::KernelFormat::kMultiboot)
    m.set_cmdline(x86::multiboot_command_line(a.kernel, a.cmdline_extra));
  else if (format)
    m.set_cmdline(compose_cmdline(a.cmdline_extra, m.virtio_cmdline()));
  t.mark("create VM");
  if (!bare.empty()) {
    m.boot_bare(bare.bytes());
  } else {
    std::string desc;
    try {
      desc = m.boot_kernel(kernel.bytes(), modules);
    } catch (const Error& e) {
      // The loader sees bytes, not files: name the files here.
      std::string files = "kernel " + a.kernel;
      for (const ModuleArg& mod : a.modules) files += fmt::format(", {} {}", mod.option.substr(2), mod.path);
      throw Error(fmt::format("{} ({})", e.what(), files));
    }
    if (a.verbose) fmt::print(stderr, "amber: {}\r\namber: command line: {}\r\n", desc, m.config().cmdline);
  }
  t.mark("load kernel");
  return run_machine(m, a.save, a.api, a.gdb, t);
}

namespace {

// Whether an image holds a Linux guest (vmm::is_linux_guest); an image whose
// configuration does not load is judged by its kernel command line.
bool holds_linux_guest(const image::Image& img) {
  if (auto* node = img.machine().child("config")) {
    try {
      return vmm::is_linux_guest(load_state<vmm::ConfigState>(*node, "config"));
    } catch (const Error&) {
    }
  }
  return !img.info().cmdline.empty();
}

// --jail DIR: first of all, while amber is single-threaded; every path on
// the command line is then resolved inside DIR (docs/security.md "The jail").
void maybe_enter_jail(const sandbox::JailConfig& jail, void (*before_drop)() = nullptr) {
  if (jail.dir.empty()) return;
  kvm::read_backend_facts();  // remembered: the jail has no /sys (the Linux-guest check reads it)
  sandbox::enter_jail(jail, before_drop);
}

int cmd_run(const RunArgs& a) {
  maybe_enter_jail(a.jail);
  return boot_and_run(a, {}).exit_status();
}

// In a pool worker (cli/pool.h): stops the VM when the client that asked
// for it goes away (its connection reads end of file), as a signal to a
// plain `amber resume` would. The reader thread may outlive this object.
class ClientGoneWatch {
 public:
  ClientGoneWatch(int conn, vmm::Machine& m) : state_(std::make_shared<State>()) {
    state_->m = &m;
    std::thread([conn, state = state_] {
      enter_thread_role(ThreadRole::kSignals);
      char b[64];
      for (;;) {
        ssize_t n = ::read(conn, b, sizeof b);
        if (n > 0 || (n < 0 && errno == EINTR)) continue;
        break;
      }
      std::lock_guard lk(state->mu);
      if (state->m) state->m->request_stop(vmm::StopReason::kSignal, "the pool client went away");
    }).detach();
  }
  ~ClientGoneWatch() {
    std::lock_guard lk(state_->mu);
    state_->m = nullptr;
  }

 private:
  struct State {
    std::mutex mu;
    vmm::Machine* m = nullptr;
  };
  std::shared_ptr<State> state_;
};

int cmd_resume(const ResumeArgs& a) {
  // The jail user may not make a userfaultfd that serves KVM's faults: one
  // made as root beforehand lets a --compress image resume lazily there too.
  maybe_enter_jail(a.jail, image::keep_userfaultfd_for_later);
  // A pool worker's resume: timed from its client's start, on a warm VM.
  const PoolRequest* pool = current_pool_request();
  Timings t(a.timings, pool ? pool->client_start : std::chrono::steady_clock::now());
  if (pool) t.mark("pool hand-over");
  block_stop_signals();
  sandbox::setup_seccomp(seccomp_mode_of(a.seccomp));
  auto img = image::Image::open(a.image);
  auto records = image::CheckedImages::for_this_user();
  if (pool)
    for (auto& id : pool->checked) records.remember(id);
  img.use_check_records(std::move(records));
  t.mark("open image");
  // A Linux guest would spin silently on a KVM that cannot run Linux;
  // bare-metal and multiboot guests run anywhere.
  if (!a.force_kvm && holds_linux_guest(img)) {
    if (!pool) require_linux_capable_kvm(kvm::KvmSystem::kDefaultPath);
    else if (!pool->linux_refusal.empty()) throw Error(pool->linux_refusal);
  }
  std::optional<kvm::KvmHypervisor> own_hv;
  hv::Hypervisor& hv = pool ? *pool->hv : own_hv.emplace();
  vmm::Console console(STDIN_FILENO, STDOUT_FILENO);
  vmm::ResumeOptions ro{a.overlays, [&](const char* phase) { t.mark(phase); }};
  // The chunks of a compressed image that an earlier resume of this file
  // needed first come in ahead of the guest (hot_chunks.h).
  // A raw image has none: its resume opens no record.
  bool compressed = std::any_of(img.ram_regions().begin(), img.ram_regions().end(),
                                [](const auto& r) { return r.compressed(); });
  auto hot_records = compressed ? image::HotChunkRecords::for_this_user() : image::HotChunkRecords();
  if (compressed) ro.lazy.prefetch = hot_records.load(img.identity());
  // Test-only: no background pass, so every chunk the guest touches comes in
  // by a fault and is recorded (whether the pass gets somewhere first is a
  // race otherwise; src/vmm/cli_kvm_test.cpp).
  if (const char* v = std::getenv("AMBER_TEST_LAZY_BACKGROUND"); v && std::string_view(v) == "0")
    ro.lazy.background = false;
  std::string cold;
  if (pool) {
    ro.warm = pool->warm;
    ro.cold = &cold;
  }
  auto m = vmm::resume_machine(hv, img, ro, &console);
  if (a.verbose)
    fmt::print(stderr, "amber: {}\r\n",
               img.runs_checked() ? fmt::format("{} RAM runs read and compared with their checksums", img.runs_checked())
                                  : std::string("RAM runs not read: a check record vouches for this file, or none "
                                                "are raw"));
  if (!cold.empty() && (a.timings || a.verbose))
    fmt::print(stderr, "amber: pool: the warm VM does not fit this image ({}); a new VM was created\r\n", cold);
  if (auto why = vmm::take_image_lease(img.fd()); !why.empty())
    log::warn("{}: a change to the image while the VM runs will not be noticed (no read lease: {})", a.image, why);
  if (a.verbose && m->lazy_fill())
    fmt::print(stderr, "amber: {}\r\n",
               ro.lazy.prefetch.empty()
                   ? std::string("compressed RAM: no record of the chunks an earlier resume touched first; this "
                                 "resume makes one")
                   : fmt::format("compressed RAM: prefetching the {} chunks an earlier resume touched first",
                                 ro.lazy.prefetch.size()));
  std::optional<ClientGoneWatch> watch;
  if (pool) watch.emplace(pool->conn, *m);
  int status = run_machine(*m, a.save, a.api, a.gdb, t, a.image).exit_status();
  // What this guest still faulted on joins the list for the next resume.
  if (auto* fill = m->lazy_fill()) {
    auto hot = image::HotChunkRecords::merged(ro.lazy.prefetch, fill->first_touched());
    if (hot.size() > ro.lazy.prefetch.size()) hot_records.store(img.identity(), hot);
  }
  return status;
}

// One line on the saved machine, ahead of the image's section listing.
std::string machine_summary(const image::Image& img) {
  auto* cfg_node = img.machine().child("config");
  if (!cfg_node) return "machine: (no configuration node)\n";
  vmm::ConfigState cfg;
  try {
    cfg = load_state<vmm::ConfigState>(*cfg_node, "config");
  } catch (const Error& e) {
    return fmt::format("machine: unreadable configuration ({})\n", e.what());
  }
  std::string disks, devices;
  for (auto& d : cfg.disks) disks += fmt::format(" {} (id '{}', {})", d.name, d.id, d.read_only ? "ro" : "rw");
  if (auto* devs = img.machine().child("devices"))
    for (auto& [name, node] : devs->children) devices += " " + name;
  return fmt::format("machine: {} vCPU{}, {} MiB RAM; devices:{}; disks:{}\n", cfg.cpus, cfg.cpus == 1 ? "" : "s",
                     cfg.mem_bytes >> 20, devices.empty() ? " none" : devices, disks.empty() ? " none" : disks);
}

int cmd_inspect(const InspectArgs& a) {
  auto img = image::Image::open(a.image);
  if (!a.json) fmt::print("{}", machine_summary(img));
  fmt::print("{}", img.describe(a.json));
  return 0;
}

int cmd_verify(const VerifyArgs& a) {
  // A bad header or metadata checksum is found by open(); report it like
  // any other bad section.
  image::Image img;
  try {
    img = image::Image::open(a.image);
  } catch (const Error& e) {
    fmt::print("{}: BAD: {}\n", a.image, e.what());
    return 1;
  }
  auto before = img.identity();
  auto r = img.verify();
  if (r.ok) {
    // Every byte was read: later resumes of this unchanged file need not
    // check its RAM runs again (checked_images.h).
    if (img.identity() == before) image::CheckedImages::for_this_user().add(before);
    fmt::print("{}: ok\n", a.image);
    return 0;
  }
  fmt::print("{}: BAD: {}\n", a.image, r.first_bad);
  return 1;
}

int cmd_dump(const DumpArgs& a) {
  auto img = image::Image::open(a.image);
  auto st = image::write_elf_core(img, a.elf);
  auto mib = [](uint64_t b) { return static_cast<double>(b) / (1 << 20); };
  fmt::print("{}: ELF core of {}: {} vCPU{}, {} PT_LOAD{}, {:.1f} MiB of guest RAM ({:.1f} MiB non-zero); "
             "file {:.1f} MiB, {:.1f} MiB allocated; {:.2f} s\n",
             a.elf, a.image, st.vcpus, st.vcpus == 1 ? "" : "s", st.loads, st.loads == 1 ? "" : "s", mib(st.ram_bytes),
             mib(st.data_bytes), mib(st.file_size), mib(st.allocated_bytes), st.seconds);
  return 0;
}

int cmd_ctl(const CtlArgs& a) {
  std::string answer = api::api_call(a.socket, api::request_from_args(a.cmd, a.params));
  fmt::print("{}\n", answer);
  // Every answer starts with its "ok" member (docs/api.md); the strict
  // request parser is not used here because answers may nest (status).
  return answer.rfind("{\"ok\":true", 0) == 0 ? 0 : 1;
}

int cmd_doctor(const DoctorArgs& a) {
  DoctorFacts f = gather_doctor_facts(a.device, a.probe);
  DoctorReport r = assess(f);
  fmt::print("{}", a.json ? render_doctor_json(f, r) : render_doctor_text(f, r));
  return 0;
}

}  // namespace

int amber_main(const std::vector<std::string>& args) {
  try {
    Command c = parse_command_line(args);
    return std::visit(
        [&args](auto& cmd) -> int {
          using T = std::decay_t<decltype(cmd)>;
          if constexpr (std::is_same_v<T, HelpArgs>) {
            fmt::print("{}", cmd.text);
            return 0;
          } else if constexpr (std::is_same_v<T, RunArgs>) {
            return cmd_run(cmd);
          } else if constexpr (std::is_same_v<T, ResumeArgs>) {
            // --pool: a warm VM of the pool runs it (in a pool worker this
            // is that run).
            if (!cmd.pool.empty() && !current_pool_request()) return resume_through_pool(cmd.pool, args);
            return cmd_resume(cmd);
          } else if constexpr (std::is_same_v<T, PoolArgs>) {
            return cmd_pool(cmd);
          } else if constexpr (std::is_same_v<T, InspectArgs>) {
            return cmd_inspect(cmd);
          } else if constexpr (std::is_same_v<T, DumpArgs>) {
            return cmd_dump(cmd);
          } else if constexpr (std::is_same_v<T, CtlArgs>) {
            return cmd_ctl(cmd);
          } else if constexpr (std::is_same_v<T, DoctorArgs>) {
            return cmd_doctor(cmd);
          } else if constexpr (std::is_same_v<T, ExecArgs>) {
            return cmd_exec(cmd);
          } else if constexpr (std::is_same_v<T, KconfigArgs>) {
            fmt::print("{}", exec::kconfig_fragment());
            return 0;
          } else {
            return cmd_verify(cmd);
          }
        },
        c);
  } catch (const UsageError& e) {
    fmt::print(stderr, "amber: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "amber: error: {}\n", e.what());
    return 1;
  }
}

}  // namespace amber::cli
