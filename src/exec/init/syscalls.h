// The little of a libc that amber-init needs, on raw x86-64 Linux system
// calls (numbers and constants from the kernel's UAPI headers:
// arch/x86/entry/syscalls/syscall_64.tbl, asm-generic/errno*.h,
// asm-generic/termbits.h, linux/reboot.h). Static inline, one translation unit.
#pragma once

typedef unsigned long size_t;

#define O_RDONLY 0
#define O_WRONLY 1
#define O_RDWR 2
#define O_CREAT 0100
#define O_TRUNC 01000
#define MS_RDONLY 1
#define MS_NOSUID 2
#define MS_NODEV 4
#define MS_NOEXEC 8
#define TCGETS 0x5401
#define TCSETS 0x5402
#define TIOCSCTTY 0x540E
#define ONLCR_FLAG 0000004
#define ECHO_FLAG 0000010
#define ECHONL_FLAG 0000100
#define SYSLOG_ACTION_CONSOLE_OFF 6
#define LINUX_REBOOT_MAGIC1 0xfee1deadUL
#define LINUX_REBOOT_MAGIC2 672274793UL
#define LINUX_REBOOT_CMD_RESTART 0x01234567UL

#define EPERM 1
#define ENOENT 2
#define EINTR 4
#define EIO 5
#define ENOEXEC 8
#define ENOMEM 12
#define EACCES 13
#define EBUSY 16
#define EEXIST 17
#define ENODEV 19
#define ENOTDIR 20
#define EINVAL 22
#define ETXTBSY 26
#define ENOSPC 28
#define EROFS 30
#define ENAMETOOLONG 36
#define ENOSYS 38
#define ELOOP 40

// The kernel's struct termios (asm-generic/termbits.h; what TCGETS fills).
struct termios2 {
  unsigned c_iflag, c_oflag, c_cflag, c_lflag;
  unsigned char c_line, c_cc[19];
};
#define TCGETS2 TCGETS
#define TCSETS2 TCSETS

static inline long syscall6(long n, long a, long b, long c, long d, long e, long f) {
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#define SC(n, a, b, c, d, e) syscall6(n, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

static inline long sys_read(long fd, void* buf, size_t n) { return SC(0, fd, buf, n, 0, 0); }
static inline long sys_write(long fd, const void* buf, size_t n) { return SC(1, fd, buf, n, 0, 0); }
static inline long sys_open(const char* p, int flags, int mode) { return SC(2, p, flags, mode, 0, 0); }
static inline long sys_close(long fd) { return SC(3, fd, 0, 0, 0, 0); }
static inline long sys_ioctl(long fd, unsigned long req, long arg) { return SC(16, fd, req, arg, 0, 0); }
static inline long sys_dup2(long a, long b) { return SC(33, a, b, 0, 0, 0); }
static inline long sys_pause(void) { return SC(34, 0, 0, 0, 0, 0); }
static inline long sys_fork(void) { return SC(57, 0, 0, 0, 0, 0); }
static inline long sys_execve(const char* p, const char* const* argv, const char* const* envp) {
  return SC(59, p, argv, envp, 0, 0);
}
__attribute__((noreturn)) static inline void sys_exit(int code) {
  for (;;) SC(60, code, 0, 0, 0, 0);
}
static inline long sys_wait4(long pid, int* status, int options, void* ru) { return SC(61, pid, status, options, ru, 0); }
static inline long sys_kill(long pid, int sig) { return SC(62, pid, sig, 0, 0, 0); }
static inline long sys_fsync(long fd) { return SC(74, fd, 0, 0, 0, 0); }
static inline long sys_chdir(const char* p) { return SC(80, p, 0, 0, 0, 0); }
static inline long sys_mkdir(const char* p, int mode) { return SC(83, p, mode, 0, 0, 0); }
static inline long sys_syslog(int type, char* buf, int len) { return SC(103, type, buf, len, 0, 0); }
static inline long sys_setsid(void) { return SC(112, 0, 0, 0, 0, 0); }
static inline long sys_chroot(const char* p) { return SC(161, p, 0, 0, 0, 0); }
static inline long sys_sync(void) { return SC(162, 0, 0, 0, 0, 0); }
static inline long sys_mount(const char* src, const char* dir, const char* type, unsigned long flags, const char* data) {
  return SC(165, src, dir, type, flags, data);
}
static inline long sys_reboot(unsigned long m1, unsigned long m2, unsigned long cmd, void* arg) {
  return SC(169, m1, m2, cmd, arg, 0);
}
static inline long sys_ioperm(unsigned long from, unsigned long num, int on) { return SC(173, from, num, on, 0, 0); }

static inline void outl(unsigned value, unsigned short port) { __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port)); }

// ---- strings ----------------------------------------------------------------
static inline unsigned str_len(const char* s) {
  unsigned n = 0;
  while (s[n]) ++n;
  return n;
}
static inline int mem_eq(const char* a, const char* b, unsigned n) {
  for (unsigned i = 0; i < n; ++i)
    if (a[i] != b[i]) return 0;
  return 1;
}
static inline int str_eq(const char* a, const char* b) {
  unsigned n = str_len(b);
  return str_len(a) == n && mem_eq(a, b, n);
}
static inline void mem_copy(char* d, const char* s, unsigned n) {
  for (unsigned i = 0; i < n; ++i) d[i] = s[i];
}
static inline unsigned parse_uint(const char* s) {
  unsigned v = 0;
  for (; *s >= '0' && *s <= '9'; ++s) v = v * 10 + (unsigned)(*s - '0');
  return v;
}
static inline unsigned fmt_uint(char* out, unsigned v) {
  char tmp[12];
  unsigned n = 0;
  do tmp[n++] = (char)('0' + v % 10); while ((v /= 10) != 0);
  for (unsigned i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
  return n;
}

static inline const char* errno_name(long e) {
  switch (e) {
    case EPERM: return "operation not permitted (EPERM)";
    case ENOENT: return "no such file or directory (ENOENT)";
    case EIO: return "input/output error (EIO)";
    case ENOEXEC: return "exec format error (ENOEXEC)";
    case ENOMEM: return "out of memory (ENOMEM)";
    case EACCES: return "permission denied (EACCES)";
    case EBUSY: return "busy (EBUSY)";
    case EEXIST: return "exists (EEXIST)";
    case ENODEV: return "no such device or filesystem type (ENODEV: is it in the kernel? see amber kconfig)";
    case ENOTDIR: return "not a directory (ENOTDIR)";
    case EINVAL: return "invalid argument (EINVAL)";
    case ETXTBSY: return "text file busy (ETXTBSY)";
    case ENOSPC: return "no space left (ENOSPC)";
    case EROFS: return "read-only filesystem (EROFS)";
    case ENAMETOOLONG: return "name too long (ENAMETOOLONG)";
    case ENOSYS: return "not implemented (ENOSYS)";
    case ELOOP: return "too many symbolic links (ELOOP)";
    default: return "error";
  }
}
