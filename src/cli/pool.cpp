#include "cli/pool.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/thread_role.h"
#include "amber/unique_fd.h"
#include "cli/commands.h"
#include "cli/doctor.h"
#include "cli/pool_wire.h"
#include "firmware/memory_map.h"
#include "kvm/backend.h"
#include "kvm/kvm_hypervisor.h"
#include "sandbox/jail.h"
#include "snapshot/image.h"
#include "snapshot/lazy_ram.h"
#include "vmm/machine_config_state.h"
#include "vmm/warm_vm.h"

namespace amber::cli {

namespace {

const PoolRequest* g_request = nullptr;

using pool_wire::send_answer;

// ---- the worker ------------------------------------------------------------

// What a worker knows before any request.
struct WorkerContext {
  hv::Hypervisor* hv = nullptr;
  vmm::WarmVm* warm = nullptr;
  std::string linux_refusal;
  uid_t owner = 0;     // the pool's user
  bool jailed = false;
  std::vector<image::FileIdentity> checked;
};

int serve(int conn, const WorkerContext& w) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) throw SysError("pool: SO_PEERCRED", errno);
  // The worker acts with the pool's user's rights on the client's files
  // and terminal: only that user (or root, who could anyway) may ask.
  if (cred.uid != w.owner && cred.uid != 0) {
    send_answer(conn, fmt::format("error this pool serves uid {} only, not uid {}", w.owner, cred.uid));
    return 1;
  }
  pool_wire::Request req;
  try {
    req = pool_wire::receive_request(conn);
  } catch (const Error& e) {
    send_answer(conn, std::string("error ") + e.what());
    return 1;
  }
  // A jailed worker resolves paths inside its jail: the client's directory
  // is outside it, and entering it would be a way out.
  if (!w.jailed && ::fchdir(req.fds[0].get()) != 0) {
    send_answer(conn, fmt::format("error pool: entering the client's working directory: {}", std::strerror(errno)));
    return 1;
  }
  for (int i = 0; i < 3; ++i)
    if (::dup2(req.fds[i + 1].get(), i) < 0) {
      send_answer(conn, fmt::format("error pool: taking over the client's descriptors: {}", std::strerror(errno)));
      return 1;
    }
  for (auto& fd : req.fds) fd.reset();
  PoolRequest r{w.hv, w.warm, w.linux_refusal, w.checked, conn, req.client_start};
  g_request = &r;
  // A fatal path's _exit (a forbidden call, a bad zstd chunk) answers too.
  set_fatal_exit_report(conn);
  int rc = amber_main(req.args);
  send_answer(conn, fmt::format("status {}", rc));
  return rc;
}

struct Report {
  char kind;  // 'R': warm and waiting; 'T': took a connection
  pid_t pid;
};

void report(int fd, char kind, pid_t pid) {
  Report r{kind, pid};
  (void)!::write(fd, &r, sizeof r);  // below PIPE_BUF: atomic
}

// A jailed idle worker is the init of its pid namespace, which drops
// default-action signals: it ends on them through this handler instead.
// (cmd_resume blocks them again for its signalfd.)
void end_idle_worker(int) { _exit(0); }

[[noreturn]] void worker_main(int listen_fd, int report_fd, int lifeline, std::initializer_list<int> close_fds,
                              vmm::VmShape shape, const sandbox::JailConfig& jail, uid_t owner,
                              const std::vector<image::FileIdentity>& checked) {
  for (int fd : close_fds) ::close(fd);
  // Its own session from the start: a Ctrl-C at the pool's terminal does
  // not reach the VMs handed out (the pool ends idle workers itself).
  ::setsid();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Reports name this process: with --jail it is the jail's supervisor
  // outside the pid namespace, the one the pool sees end.
  pid_t me = ::getpid();
  int rc = 1;
  try {
    if (!jail.dir.empty()) {
      kvm::read_backend_facts();  // the jail has no /sys (the Linux-guest check reads it)
      sandbox::enter_jail(jail, image::keep_userfaultfd_for_later, {listen_fd, report_fd, lifeline});
      struct sigaction sa {};
      sa.sa_handler = end_idle_worker;
      for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
    }
    kvm::KvmHypervisor hv;
    vmm::WarmVm warm(hv, shape);
    WorkerContext w{&hv, &warm, {}, owner, !jail.dir.empty(), checked};
    // What `amber resume` checks for a Linux guest, asked now: it reads
    // files and the CPU's flags, none of which a request changes.
    try {
      require_linux_capable_kvm(kvm::KvmSystem::kDefaultPath);
    } catch (const Error& e) {
      w.linux_refusal = e.what();
    }
    report(report_fd, 'R', me);
    // Wait for a client, or for the pool to end (its end of the lifeline
    // closes). The listening socket is non-blocking: every idle worker
    // wakes for a connection and one gets it.
    int conn = -1;
    while (conn < 0) {
      pollfd fds[2] = {{listen_fd, POLLIN, 0}, {lifeline, POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        throw SysError("pool: poll", errno);
      }
      if (fds[1].revents) _exit(0);
      conn = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        throw SysError("pool: accept", errno);
    }
    UniqueFd owned(conn);
    report(report_fd, 'T', me);
    ::close(listen_fd);
    ::close(report_fd);
    ::close(lifeline);
    rc = serve(conn, w);
  } catch (const std::exception& e) {
    // Nothing may unwind out of here: above this frame is the pool's own
    // loop (this process is its fork), whose destructors would remove the
    // pool's socket.
    fmt::print(stderr, "amber: error: {}\n", e.what());
  } catch (...) {
    fmt::print(stderr, "amber: error: pool worker: an unexpected exception\n");
  }
  std::fflush(nullptr);
  _exit(rc);
}

// ---- the pool --------------------------------------------------------------

// The warm VMs' shape: --cpus/--mem, or --like IMAGE's. IMAGE's RAM runs
// are checked here, once (or a check record vouches for them), and its
// identity goes to the workers in `checked`: a jailed worker has no records
// directory and would otherwise read every run at every resume. A bad run
// refuses the pool, as it would refuse the resume.
vmm::VmShape shape_of(const PoolArgs& a, std::vector<image::FileIdentity>& checked) {
  if (a.like.empty()) return {a.cpus, a.mem_bytes};
  auto img = image::Image::open(a.like);
  auto cfg = vmm::from_state(load_state<vmm::ConfigState>(img.machine().require_child("config"), "config"));
  img.use_check_records(image::CheckedImages::for_this_user());
  for (size_t i = 0; i < img.ram_regions().size(); ++i)
    if (!img.ram_regions()[i].compressed()) (void)img.map_ram(i);
  auto id = img.identity();
  // Checked now (or recorded before), and not changed within the clock
  // tick of the check (checked_images.h).
  if (img.check_records().settled(id)) checked.push_back(id);
  return {cfg.cpus, cfg.mem_bytes};
}

// The listening socket, 0600 from its creation (umask around bind), removed
// at exit. An existing socket nobody serves is replaced; anything else is not.
class Listener {
 public:
  explicit Listener(const std::string& path) : path_(path) {
    sockaddr_un a = pool_wire::socket_address(path);
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw Error(fmt::format("pool: {} exists and is not a socket; refusing to replace it", path));
      UniqueFd probe(check_sys(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), "socket"));
      if (::connect(probe.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
        throw Error(fmt::format("pool: another process serves {}", path));
      // Only a socket nobody listens on is stale; another kind of socket
      // (EPROTOTYPE: a stream socket someone serves) is not ours to remove.
      if (errno != ECONNREFUSED) throw SysError(fmt::format("pool: probing the existing socket {}", path), errno);
      ::unlink(path.c_str());
    }
    fd_.reset(check_sys(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), "socket"));
    mode_t old = ::umask(0177);
    int rc = ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
    int err = errno;
    ::umask(old);
    if (rc != 0) throw SysError(fmt::format("pool: bind {}", path), err);
    bound_ = true;
    if (::listen(fd_.get(), 64) != 0) throw SysError(fmt::format("pool: listen on {}", path), errno);
  }
  ~Listener() {
    if (bound_) ::unlink(path_.c_str());
  }
  int fd() const { return fd_.get(); }

 private:
  std::string path_;
  UniqueFd fd_;
  bool bound_ = false;
};

std::string describe_status(int st) {
  if (WIFEXITED(st)) return fmt::format("exit status {}", WEXITSTATUS(st));
  if (WIFSIGNALED(st)) return fmt::format("signal {}", WTERMSIG(st));
  return "stopped";
}

}  // namespace

const PoolRequest* current_pool_request() { return g_request; }

int cmd_pool(const PoolArgs& a) {
  std::vector<image::FileIdentity> checked;
  vmm::VmShape shape = shape_of(a, checked);
  if (shape.cpus < 1 || shape.cpus > 32) throw Error(fmt::format("pool: {} vCPUs: amber supports 1 to 32", shape.cpus));
  x86::validate_mem_size(shape.mem_bytes);
  { kvm::KvmHypervisor probe; }  // no usable /dev/kvm: the clear error now, not from every worker
  Listener listener(a.socket);

  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, s);
  check_sys(::sigprocmask(SIG_BLOCK, &set, nullptr), "sigprocmask");
  UniqueFd sig(check_sys(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK), "signalfd"));
  int p[2];
  check_sys(::pipe2(p, O_CLOEXEC), "pipe2");
  UniqueFd reports(p[0]), report_w(p[1]);
  check_sys(::fcntl(reports.get(), F_SETFL, O_NONBLOCK), "fcntl");
  // Idle workers hold the read end; its end of file (this process ended or
  // closed it) ends them.
  check_sys(::pipe2(p, O_CLOEXEC), "pipe2");
  UniqueFd lifeline_r(p[0]), lifeline_w(p[1]);
  check_sys(::fcntl(listener.fd(), F_SETFL, O_NONBLOCK), "fcntl");

  std::set<pid_t> starting, idle, busy;
  uid_t owner = ::geteuid();
  // One worker warms up at a time: with --jail each makes DIR/dev/kvm anew,
  // which must not happen while another opens it; it also spreads the load.
  auto top_up = [&] {
    if (!starting.empty() || idle.size() >= a.size) return;
    std::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) throw SysError("pool: fork", errno);
    if (pid == 0)
      worker_main(listener.fd(), report_w.get(), lifeline_r.get(), {sig.get(), reports.get(), lifeline_w.get()}, shape,
                  a.jail, owner, checked);
    starting.insert(pid);
  };
  top_up();

  bool announced = false;
  int rc = 0;
  uint64_t served = 0;
  for (bool running = true; running;) {
    pollfd fds[2] = {{sig.get(), POLLIN, 0}, {reports.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw SysError("pool: poll", errno);
    }
    // Every report before any exit: a worker reports before it can end.
    for (Report r; ::read(reports.get(), &r, sizeof r) == sizeof r;) {
      if (r.kind == 'R' && starting.erase(r.pid)) {
        idle.insert(r.pid);
        if (!announced && idle.size() >= a.size) {
          announced = true;
          fmt::print(stderr, "amber: pool {} ready: {} warm VM{} of {}\n", a.socket, a.size, a.size == 1 ? "" : "s",
                     shape.describe());
        }
      } else if (r.kind == 'T' && (idle.erase(r.pid) || starting.erase(r.pid))) {
        busy.insert(r.pid);
        ++served;
      }
    }
    for (signalfd_siginfo si; ::read(sig.get(), &si, sizeof si) == sizeof si;) {
      if (si.ssi_signo != SIGCHLD) {
        running = false;
        continue;
      }
      int st;
      for (pid_t pid; (pid = ::waitpid(-1, &st, WNOHANG)) > 0;) {
        if (starting.erase(pid)) {
          // Its error is above (the worker printed it): making warm VMs
          // fails, so would every replacement.
          fmt::print(stderr, "amber: error: pool: a worker could not make its warm VM ({})\n", describe_status(st));
          rc = 1;
          running = false;
        } else if (idle.erase(pid)) {
          fmt::print(stderr, "amber: pool: an idle worker ended ({}); replacing it\n", describe_status(st));
        } else {
          busy.erase(pid);
        }
      }
    }
    if (running) top_up();
  }
  // Idle and starting workers go (the lifeline, and SIGTERM for one still
  // warming up); busy ones serve their clients to the end.
  lifeline_w.reset();
  for (pid_t pid : starting) ::kill(pid, SIGTERM);
  for (size_t left = starting.size() + idle.size(); left > 0;) {
    int st;
    pid_t pid = ::waitpid(-1, &st, 0);
    if (pid < 0) break;
    if (starting.count(pid) || idle.count(pid)) --left;
  }
  fmt::print(stderr, "amber: pool {} ended: {} resume{} served, {} still running\n", a.socket, served,
             served == 1 ? "" : "s", busy.size());
  return rc;
}

int resume_through_pool(const std::string& socket, const std::vector<std::string>& args) {
  auto start = std::chrono::steady_clock::now();
  sockaddr_un a = pool_wire::socket_address(socket);
  UniqueFd s(check_sys(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), "socket"));
  if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int err = errno;
    if (err == ENOENT) throw Error(fmt::format("--pool {}: no pool there (start one with 'amber pool {}')", socket, socket));
    if (err == ECONNREFUSED) throw Error(fmt::format("--pool {}: no pool serves this socket any more", socket));
    throw SysError(fmt::format("--pool {}: connect", socket), err);
  }
  UniqueFd cwd(check_sys(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC), "open ."));
  pool_wire::send_request(s.get(), start, args, {cwd.get(), STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO});
  cwd.reset();
  // The worker now runs the VM on this terminal; its answer comes at the end.
  return pool_wire::receive_status(s.get(), socket);
}

}  // namespace amber::cli
