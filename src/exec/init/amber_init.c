// amber-init: PID 1 of `amber exec` (docs/exec.md). Built freestanding
// (no libc, raw x86-64 system calls) so that the binary amber embeds and
// copies into every guest stays a few KiB; see syscalls.h.
//
// It reads /amber-exec.conf (written by amber, src/exec/exec_config.h),
// mounts the host's root read-only over 9p with a tmpfs upper in an overlay,
// mounts proc, sys, devtmpfs, devpts, tmpfs /tmp and /run, mounts each
// --rwdir share writable at its host path, then runs the command in a child:
// chroot into the overlay, the caller's working directory, its own session
// with ttyS0 as controlling terminal. It waits for it and reports the status
// (exit code, or 128+N for signal N; 125 when the environment could not be
// set up, 126/127 when the command could not run) through the debug-exit
// port, or, where the kernel has no ioperm(2), in a file on amber's status
// share followed by a reboot.
#include "syscalls.h"

#define CONF_PATH "/amber-exec.conf"
#define CONF_MAX (1 << 20)
#define MAX_ARGS 4096
#define MAX_ENV 64
#define MAX_RW 16

enum { kSetupFailed = 125, kNotExecutable = 126, kNotFound = 127 };

static char conf_buf[CONF_MAX + 1];
static const char* args[MAX_ARGS + 1];
static const char* envs[MAX_ENV + 2];
static const char* rw_tags[MAX_RW];
static const char* rw_paths[MAX_RW];
static int nargs, nenvs, nrw;
static const char* root_tag;
static const char* status_tag;
static const char* cwd = "/";
static unsigned status_port;
static int verbose, tty_raw_out, tty_noecho;
static int status_share_mounted;

// ---- output --------------------------------------------------------------
static void say5(const char* a, const char* b, const char* c, const char* d, const char* e, long err) {
  const char* parts[] = {"amber-init: ", a, b, c, d, e};
  for (unsigned i = 0; i < 6; ++i)
    if (parts[i]) sys_write(2, parts[i], str_len(parts[i]));
  if (err) {
    sys_write(2, ": ", 2);
    const char* e = errno_name(err);
    sys_write(2, e, str_len(e));
  }
  sys_write(2, "\n", 1);
}

static void say(const char* a, const char* b, const char* c, long err) { say5(a, b, c, 0, 0, err); }

static void trace(const char* a, const char* b) {
  if (verbose) say(a, b, 0, 0);
}

// ---- reporting -------------------------------------------------------------
// 1 when `path` is `dir` or below it ("/tmp" holds "/tmp" and "/tmp/x", not "/tmpx").
static int is_under(const char* path, const char* dir) {
  unsigned n = str_len(dir);
  return mem_eq(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

static int proc_mounted;

static void report_and_end(int status) {
  sys_sync();
  // The debug-exit device: amber sees (V << 1) | 1 and ends the VM at once.
  if (status_port && sys_ioperm(status_port, 4, 1) == 0) {
    outl((unsigned)status, (unsigned short)status_port);
  }
  // No ioperm (CONFIG_X86_IOPL_IOPERM off, as in the test kernel): the
  // status goes in a file on the status share, then a reboot ends the VM.
  int reported = 0;
  if (status_share_mounted) {
    long fd = sys_open("/mnt/amber-status/status", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      char num[16];
      unsigned n = fmt_uint(num, (unsigned)status);
      num[n++] = '\n';
      reported = sys_write(fd, num, n) == (long)n && sys_fsync(fd) == 0;
      sys_close(fd);
    }
  }
  if (!reported) say("could not report the exit status to amber (no ioperm, no status share)", 0, 0, 0);
  // Keep "reboot: Restarting system" (KERN_EMERG) off the command's output:
  // console_loglevel 0 prints nothing (syslog(2) cannot go below 1, sysctl can).
  long pfd = proc_mounted ? sys_open("/newroot/proc/sys/kernel/printk", O_WRONLY, 0) : -1;
  if (pfd >= 0) {
    long w = sys_write(pfd, "0\n", 2);
    if (w != 2) say("could not write /proc/sys/kernel/printk", 0, 0, -w);
    sys_close(pfd);
  } else {
    trace("no /proc/sys/kernel/printk: the reboot message may show", 0);
    sys_syslog(SYSLOG_ACTION_CONSOLE_OFF, 0, 0);
  }
  sys_reboot(LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_RESTART, 0);
  for (;;) sys_pause();
}

static void fail(const char* what, const char* arg, long err) {
  say(what, arg ? " " : 0, arg, err);
  report_and_end(kSetupFailed);
}

// ---- configuration (format: src/exec/exec_config.h) -------------------------
static void read_config(void) {
  long fd = sys_open(CONF_PATH, O_RDONLY, 0);
  if (fd < 0) fail("cannot open " CONF_PATH, 0, -fd);
  long len = 0;
  for (;;) {
    long n = sys_read(fd, conf_buf + len, CONF_MAX - len);
    if (n < 0) fail("cannot read " CONF_PATH, 0, -n);
    if (n == 0) break;
    len += n;
    if (len == CONF_MAX) fail(CONF_PATH " is too large", 0, 0);
  }
  sys_close(fd);
  conf_buf[len] = 0;
  // NUL-terminated strings: the magic, then key, value, key, value...
  const char* p = conf_buf;
  const char* end = conf_buf + len;
  if (!str_eq(p, "amber-exec 1")) fail(CONF_PATH ": unknown format", 0, 0);
  p += str_len(p) + 1;
  while (p < end) {
    const char* key = p;
    p += str_len(p) + 1;
    if (p >= end) fail(CONF_PATH ": a key without a value", 0, 0);
    const char* val = p;
    p += str_len(p) + 1;
    if (str_eq(key, "arg")) {
      if (nargs == MAX_ARGS) fail("too many arguments", 0, 0);
      args[nargs++] = val;
    } else if (str_eq(key, "env")) {
      if (nenvs == MAX_ENV) fail("too many environment variables", 0, 0);
      envs[nenvs++] = val;
    } else if (str_eq(key, "rw")) {
      // TAG:PATH (amber's tags hold no ':')
      char* colon = (char*)val;
      while (*colon && *colon != ':') ++colon;
      if (!*colon || nrw == MAX_RW) fail(CONF_PATH ": bad rw entry", val, 0);
      *colon = 0;
      rw_tags[nrw] = val;
      rw_paths[nrw++] = colon + 1;
    } else if (str_eq(key, "root")) root_tag = val;
    else if (str_eq(key, "status_tag")) status_tag = val;
    else if (str_eq(key, "status_port")) status_port = parse_uint(val);
    else if (str_eq(key, "cwd")) cwd = val;
    else if (str_eq(key, "verbose")) verbose = str_eq(val, "1");
    else if (str_eq(key, "tty_raw_out")) tty_raw_out = str_eq(val, "1");
    else if (str_eq(key, "tty_noecho")) tty_noecho = str_eq(val, "1");
    // Unknown keys are ignored: a newer amber may add some.
  }
  if (!root_tag) fail(CONF_PATH ": no root share", 0, 0);
  if (nargs == 0) fail(CONF_PATH ": no command", 0, 0);
}

// ---- mounts -----------------------------------------------------------------
static void make_dir(const char* path) {
  long r = sys_mkdir(path, 0755);
  if (r < 0 && r != -EEXIST) fail("mkdir", path, -r);
}

static void do_mount(const char* src, const char* dir, const char* type, unsigned long flags, const char* opts) {
  trace("mount ", dir);
  long r = sys_mount(src, dir, type, flags, opts);
  if (r < 0) {
    // A 9p mount of a tag no device has fails with ENOENT.
    int no_share = str_eq(type, "9p") && r == -ENOENT;
    say5("cannot mount ", type, " ", src, no_share ? " (no virtio-9p device has this tag)" : "", 0);
    fail("  on", dir, -r);
  }
}

static char path_buf[4096 + 64];
// "/newroot" + path, for the mounts inside the new root.
static const char* in_root(const char* path) {
  static const char prefix[] = "/newroot";
  unsigned n = sizeof prefix - 1, m = str_len(path);
  if (n + m + 1 > sizeof path_buf) fail("path too long:", path, 0);
  mem_copy(path_buf, prefix, n);
  mem_copy(path_buf + n, path, m + 1);
  return path_buf;
}

// mkdir -p of a path inside the overlay (a --rwdir the lower layer lacks
// cannot happen, the host has it; a missing /tmp or /run can).
static void make_dirs(char* path) {
  for (char* p = path + 1; *p; ++p) {
    if (*p != '/') continue;
    *p = 0;
    long r = sys_mkdir(path, 0755);
    *p = '/';
    if (r < 0 && r != -EEXIST) fail("mkdir", path, -r);
  }
  make_dir(path);
}

static void setup_mounts(void) {
  // The kernel does not mount devtmpfs over an initramfs; /dev/console
  // comes from the kernel's built-in initramfs (and amber's).
  make_dir("/mnt");
  if (status_tag) {
    make_dir("/mnt/amber-status");
    if (sys_mount(status_tag, "/mnt/amber-status", "9p", 0, "trans=virtio,version=9p2000.L") == 0)
      status_share_mounted = 1;
    else
      trace("no status share: the status goes through the debug-exit port only", 0);
  }
  make_dir("/mnt/lower");
  make_dir("/mnt/rw");
  make_dir("/newroot");
  // No cache=loose: it finds inodes by qid.path, and a server whose qid.path
  // is the inode number alone (amber's, QEMU's without multidevs=remap)
  // gives the roots of the host's mounts (/tmp, /proc, ...) the same one.
  do_mount(root_tag, "/mnt/lower", "9p", MS_RDONLY, "trans=virtio,version=9p2000.L,msize=262144");
  do_mount("tmpfs", "/mnt/rw", "tmpfs", 0, "mode=0755");
  make_dir("/mnt/rw/upper");
  make_dir("/mnt/rw/work");
  do_mount("overlay", "/newroot", "overlay", 0, "lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work");
  static const struct {
    const char *dir, *type, *opts;
    unsigned long flags;
    int optional, tmp_like;
  } kMounts[] = {
      {"/proc", "proc", 0, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, 0},
      {"/sys", "sysfs", 0, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, 0},
      {"/dev", "devtmpfs", "mode=0755", MS_NOSUID, 0, 0},
      {"/dev/pts", "devpts", "mode=0620,ptmxmode=0666", MS_NOSUID | MS_NOEXEC, 1, 0},
      {"/dev/shm", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV, 1, 0},
      {"/tmp", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV, 0, 1},
      {"/run", "tmpfs", "mode=0755", MS_NOSUID | MS_NODEV, 0, 1},
  };
  for (unsigned i = 0; i < sizeof kMounts / sizeof kMounts[0]; ++i) {
    // A fresh tmpfs on /tmp or /run would hide the working directory or an
    // --rwdir below it: then the overlay's view of the host's stays.
    if (kMounts[i].tmp_like) {
      int hides = is_under(cwd, kMounts[i].dir);
      for (int j = 0; j < nrw; ++j) hides |= is_under(rw_paths[j], kMounts[i].dir);
      if (hides) {
        trace("no tmpfs (it would hide the working directory or an --rwdir): ", kMounts[i].dir);
        continue;
      }
    }
    char* dir = (char*)in_root(kMounts[i].dir);
    long r = sys_mkdir(dir, 0755);
    if (r < 0 && r != -EEXIST) {
      if (kMounts[i].optional) continue;
      fail("mkdir", dir, -r);
    }
    if (kMounts[i].optional) {
      if (sys_mount(kMounts[i].type, dir, kMounts[i].type, kMounts[i].flags, kMounts[i].opts) < 0)
        trace("optional mount failed: ", dir);
    } else {
      do_mount(kMounts[i].type, dir, kMounts[i].type, kMounts[i].flags, kMounts[i].opts);
    }
    if (i == 0) proc_mounted = 1;
  }
  for (int i = 0; i < nrw; ++i) {
    char* dir = (char*)in_root(rw_paths[i]);
    make_dirs(dir);
    do_mount(rw_tags[i], dir, "9p", 0, "trans=virtio,version=9p2000.L,msize=262144");
  }
}

// ---- the command --------------------------------------------------------------
static const char* env_value(const char* name) {
  unsigned n = str_len(name);
  for (int i = 0; i < nenvs; ++i)
    if (mem_eq(envs[i], name, n) && envs[i][n] == '=') return envs[i] + n + 1;
  return 0;
}

static void set_up_terminal(void) {
  // Its own session, then open the console's real tty (not /dev/console,
  // which never becomes a controlling terminal) to make it ours.
  sys_setsid();
  long fd = sys_open("/dev/ttyS0", O_RDWR, 0);
  if (fd < 0) {
    say("cannot open /dev/ttyS0 (the command runs without a controlling terminal)", 0, 0, -fd);
    return;
  }
  sys_ioctl(fd, TIOCSCTTY, 0);
  struct termios2 t;
  if (sys_ioctl(fd, TCGETS2, (long)&t) == 0) {
    // The host's stdout is a file or pipe: no \r\n for \n. Its stdin is
    // not a terminal: no echo of what it sends.
    if (tty_raw_out) t.c_oflag &= ~ONLCR_FLAG;
    if (tty_noecho) t.c_lflag &= ~(ECHO_FLAG | ECHONL_FLAG);
    sys_ioctl(fd, TCSETS2, (long)&t);
  }
  for (int i = 0; i < 3; ++i) sys_dup2(fd, i);
  if (fd > 2) sys_close(fd);
}

static char exec_buf[4096 + 256];
// execvp: the command as given when it holds a '/', else each PATH entry.
// Returns the status to exit with when nothing could be executed.
static int run_command(void) {
  const char* cmd = args[0];
  for (const char* p = cmd; *p; ++p)
    if (*p == '/') {
      long r = sys_execve(cmd, args, envs);
      say(cmd, 0, 0, -r);
      return r == -ENOENT ? kNotFound : kNotExecutable;
    }
  const char* path = env_value("PATH");
  if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  long first_error = 0;  // the first failure other than "not there", as shells report it
  unsigned clen = str_len(cmd);
  for (const char* p = path;;) {
    const char* e = p;
    while (*e && *e != ':') ++e;
    unsigned dlen = (unsigned)(e - p);
    if (dlen + clen + 2 <= sizeof exec_buf) {
      if (dlen == 0) exec_buf[dlen++] = '.';  // an empty entry is the cwd
      else mem_copy(exec_buf, p, dlen);
      exec_buf[dlen] = '/';
      mem_copy(exec_buf + dlen + 1, cmd, clen + 1);
      long r = sys_execve(exec_buf, args, envs);
      if (r != -ENOENT && r != -ENOTDIR && !first_error) first_error = -r;
    }
    if (!*e) break;
    p = e + 1;
  }
  if (first_error) {
    say(cmd, 0, 0, first_error);
    return kNotExecutable;
  }
  say(cmd, ": command not found", 0, 0);
  return kNotFound;
}

static void child(void) {
  long r = sys_chroot("/newroot");
  if (r < 0) { say("chroot /newroot", 0, 0, -r); sys_exit(kSetupFailed); }
  r = sys_chdir(cwd);
  if (r < 0) { say("cannot enter the working directory ", cwd, 0, -r); sys_exit(kSetupFailed); }
  set_up_terminal();
  sys_exit(run_command());
}

void amber_init_main(void) {
  read_config();
  envs[nenvs] = 0;
  args[nargs] = 0;
  setup_mounts();
  trace("running ", args[0]);
  long pid = sys_fork();
  if (pid < 0) fail("fork", 0, -pid);
  if (pid == 0) child();
  // PID 1 reaps every orphan until the command itself ends.
  int status = kSetupFailed;
  for (;;) {
    int ws = 0;
    long r = sys_wait4(-1, &ws, 0, 0);
    if (r == -EINTR) continue;
    if (r < 0) fail("wait4", 0, -r);
    if (r != pid) continue;
    if ((ws & 0x7f) == 0) status = (ws >> 8) & 0xff;    // WIFEXITED: WEXITSTATUS
    else status = 128 + (ws & 0x7f);                     // WIFSIGNALED: 128 + WTERMSIG
    break;
  }
  // What the command left running must not write after the status is out.
  sys_kill(-1, 9);
  report_and_end(status);
}

// The entry point: no libc, so no crt0. The kernel starts PID 1 with the
// stack pointer at argc; amber-init needs neither argv nor envp.
__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  xor %ebp, %ebp\n"
    "  and $-16, %rsp\n"
    "  call amber_init_main\n"
    "  hlt\n");

// The compiler may emit calls to these for copies and clears.
void* memcpy(void* d, const void* s, size_t n) {
  for (size_t i = 0; i < n; ++i) ((char*)d)[i] = ((const char*)s)[i];
  return d;
}
void* memset(void* d, int c, size_t n) {
  for (size_t i = 0; i < n; ++i) ((char*)d)[i] = (char)c;
  return d;
}
