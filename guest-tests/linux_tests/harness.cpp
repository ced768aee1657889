#include "harness.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

namespace lt {

namespace fs = std::filesystem;

namespace {

std::string exe_dir() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : p.parent_path().string();
}

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

[[noreturn]] void die(const std::string& what) {
  // A helper failing is a broken test environment: stop this test loudly.
  throw std::runtime_error(what + ": " + strerror(errno));
}

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Calls fn(offset, length) for each data range of fd (the whole file where
// SEEK_DATA is not supported).
template <class Fn>
void for_each_data_range(int fd, uint64_t size, Fn fn) {
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < size) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) return;  // only a hole remains
      fn(static_cast<uint64_t>(pos), size - static_cast<uint64_t>(pos));
      return;
    }
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = static_cast<off_t>(size);
    fn(static_cast<uint64_t>(data), static_cast<uint64_t>(hole - data));
    pos = hole;
  }
}

}  // namespace

const std::string& amber_bin() {
  static const std::string p = env_or("AMBER_BIN", exe_dir() + "/../../tools/amber");
  return p;
}

const std::string& guest_dir() {
  static const std::string p = env_or("AMBER_GUEST_DIR", exe_dir() + "/../../guest");
  return p;
}

std::string guest_file(const std::string& name) { return guest_dir() + "/" + name; }

std::string why_not_runnable() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return fmt::format("no usable /dev/kvm ({}); run inside tools/kvm-sandbox.sh (tools/test.sh does)",
                       strerror(errno));
  ::close(fd);
  if (::access(amber_bin().c_str(), X_OK) != 0) return "no amber binary at " + amber_bin() + " (set AMBER_BIN)";
  for (auto f : {"bzImage", "vmlinux", "ready.cpio.gz", "shell.cpio.gz", "disk.cpio.gz", "ticks.cpio.gz",
                 "snap.cpio.gz", "disk.img"})
    if (!exists(guest_file(f)))
      return "no " + guest_file(f) + " (run guest-tests/linux/prepare.sh build/guest; set AMBER_GUEST_DIR)";
  return "";
}

TempDir::TempDir() {
  std::string tmpl = env_or("AMBER_LT_TMP", "/tmp") + "/amber-lt-XXXXXX";
  if (!::mkdtemp(tmpl.data())) die("mkdtemp " + tmpl);
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (env_or("AMBER_LT_KEEP", "0") == "1") {
    fmt::print(stderr, "linux_tests: kept {}\n", path_);
    return;
  }
  std::error_code ec;
  fs::remove_all(path_, ec);
}

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) die("stat " + path);
  return static_cast<uint64_t>(st.st_size);
}

uint64_t allocated_bytes(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) die("stat " + path);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

std::string read_file(const std::string& path) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) die("open " + path);
  std::string s;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("read " + path);
    if (n == 0) return s;
    s.append(buf, static_cast<size_t>(n));
  }
}

void write_file(const std::string& path, const std::string& data) {
  Fd f(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (f.fd < 0) die("create " + path);
  if (::write(f.fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) die("write " + path);
}

void copy_file(const std::string& from, const std::string& to, uint64_t limit) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (in.fd < 0) die("open " + from);
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (out.fd < 0) die("create " + to);
  uint64_t size = std::min(file_size(from), limit);
  std::vector<char> buf(1 << 20);
  for_each_data_range(in.fd, size, [&](uint64_t off, uint64_t len) {
    len = std::min(len, size - off);
    while (len > 0) {
      ssize_t n = ::pread(in.fd, buf.data(), std::min<uint64_t>(len, buf.size()), static_cast<off_t>(off));
      if (n <= 0) die("read " + from);
      if (::pwrite(out.fd, buf.data(), static_cast<size_t>(n), static_cast<off_t>(off)) != n) die("write " + to);
      off += static_cast<uint64_t>(n);
      len -= static_cast<uint64_t>(n);
    }
  });
  if (::ftruncate(out.fd, static_cast<off_t>(size)) != 0) die("truncate " + to);
}

uint64_t file_digest(const std::string& path) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) die("open " + path);
  uint64_t size = file_size(path);
  uint64_t h = 0x9e3779b97f4a7c15ull ^ size;
  auto mix = [&h](uint64_t w) { h = (h ^ w) * 0x100000001b3ull + 0x632be59bd9b4e019ull; };
  // Content only: an all-zero 4 KiB block counts the same as a hole (tmpfs,
  // for one, turns holes that a MAP_PRIVATE reader faulted into zero pages).
  constexpr size_t kBlock = 4096;
  std::vector<char> buf(1 << 20);
  for_each_data_range(f.fd, size, [&](uint64_t off, uint64_t len) {
    while (len > 0) {
      ssize_t n = ::pread(f.fd, buf.data(), std::min<uint64_t>(len, buf.size()), static_cast<off_t>(off));
      if (n <= 0) die("read " + path);
      for (size_t b = 0; b < static_cast<size_t>(n); b += kBlock) {
        size_t blen = std::min(kBlock, static_cast<size_t>(n) - b);
        const char* p = buf.data() + b;
        uint64_t acc = 0;
        size_t words = blen / 8;
        for (size_t i = 0; i < words; ++i) {
          uint64_t w;
          std::memcpy(&w, p + i * 8, 8);
          acc |= w;
        }
        for (size_t i = words * 8; i < blen; ++i) acc |= static_cast<unsigned char>(p[i]);
        if (acc == 0) continue;
        mix(off + b);
        for (size_t i = 0; i < words; ++i) {
          uint64_t w;
          std::memcpy(&w, p + i * 8, 8);
          mix(w);
        }
        for (size_t i = words * 8; i < blen; ++i) mix(static_cast<unsigned char>(p[i]));
      }
      off += static_cast<uint64_t>(n);
      len -= static_cast<uint64_t>(n);
    }
  });
  return h;
}

bool file_contains(const std::string& path, const std::string& needle) {
  Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.fd < 0) die("open " + path);
  uint64_t size = file_size(path);
  bool found = false;
  const size_t chunk = 1 << 20;
  std::vector<char> buf(chunk + needle.size());
  for_each_data_range(f.fd, size, [&](uint64_t off, uint64_t len) {
    while (!found && len > 0) {
      // Read a little past the chunk so a needle across the boundary is seen.
      size_t want = static_cast<size_t>(std::min<uint64_t>(len, chunk)) + needle.size();
      ssize_t n = ::pread(f.fd, buf.data(), want, static_cast<off_t>(off));
      if (n <= 0) die("read " + path);
      if (::memmem(buf.data(), static_cast<size_t>(n), needle.data(), needle.size())) found = true;
      uint64_t step = std::min<uint64_t>(len, chunk);
      off += step;
      len -= step;
    }
  });
  return found;
}

uint8_t flip_byte(const std::string& path, uint64_t offset) {
  ::chmod(path.c_str(), 0644);  // images are written 0444
  Fd f(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (f.fd < 0) die("open " + path);
  uint8_t b;
  if (::pread(f.fd, &b, 1, static_cast<off_t>(offset)) != 1) die("read " + path);
  uint8_t nb = b ^ 0xff;
  if (::pwrite(f.fd, &nb, 1, static_cast<off_t>(offset)) != 1) die("write " + path);
  return b;
}

bool wait_prompt(Process& p, int tries) {
  for (int i = 0; i < tries; ++i) {
    if (!p.send("\n")) break;
    if (p.try_expect("amber# ", 5s)) {
      // The prompt seen may be the shell's first one, printed before it read
      // the newlines sent so far; each of those still yields a prompt later,
      // which the next shell() would take as the end of its own output (seen
      // in a loaded sandbox: `nproc` answered ""). Input is served in order,
      // so once a marker command has answered, every earlier prompt is out.
      if (!p.send("echo amber-sync-$((6*7))\n")) break;
      return p.expect("amber-sync-42", 60s) && p.expect("amber# ", 30s);
    }
  }
  ADD_FAILURE() << "no shell prompt \"amber# \" after " << tries << " tries\n" << p.transcript();
  return false;
}

std::optional<std::string> shell(Process& p, const std::string& cmd, Seconds timeout) {
  if (!p.send(cmd + "\n")) {
    ADD_FAILURE() << "cannot type `" << cmd << "`: stdin closed\n" << p.transcript();
    return std::nullopt;
  }
  if (!p.expect(cmd, 30s)) return std::nullopt;  // the shell's echo of the line
  size_t start = p.cursor();
  if (!p.expect("amber# ", timeout)) return std::nullopt;
  std::string out = p.out().substr(start, p.cursor() - start - std::string("amber# ").size());
  auto b = out.find_first_not_of(" \t\n");
  auto e = out.find_last_not_of(" \t\n");
  return b == std::string::npos ? std::string() : out.substr(b, e - b + 1);
}

std::vector<std::string> words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> v;
  for (std::string w; in >> w;) v.push_back(w);
  return v;
}

bool has_word(const std::string& s, const std::string& w) {
  for (auto& x : words(s))
    if (x == w) return true;
  return false;
}

int count_lines_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.find(needle) != std::string::npos) ++n;
  return n;
}

void LinuxTest::SetUp() {
  if (auto why = why_not_runnable(); !why.empty()) GTEST_SKIP() << why;
  tmp_ = std::make_unique<TempDir>();
}

std::unique_ptr<Process> LinuxTest::amber(std::vector<std::string> args) {
  args.insert(args.begin(), amber_bin());
  return std::make_unique<Process>(std::move(args), Process::Options{tmp_->path(), {}});
}

RunResult LinuxTest::amber_run(std::vector<std::string> args, Seconds timeout) {
  auto p = amber(std::move(args));
  p->close_stdin();
  RunResult r;
  r.status = p->wait(timeout);
  r.out = p->out();
  r.err = p->err();
  return r;
}

std::string LinuxTest::copy_guest(const std::string& name, const std::string& as) {
  std::string to = *tmp_ / (as.empty() ? name : as);
  copy_file(guest_file(name), to);
  return to;
}

void expect_no_crash(const std::string& out, const std::string& err, const ExitStatus& st) {
  RunResult r{st, out, err};
  EXPECT_EQ(st.kind, ExitStatus::kExited) << r.transcript();
  EXPECT_EQ(err.find("terminate called"), std::string::npos) << r.transcript();
  EXPECT_EQ(err.find("Sanitizer"), std::string::npos) << r.transcript();
  EXPECT_EQ(err.find("Assertion"), std::string::npos) << r.transcript();
}

}  // namespace lt
