// Lazy restore of zstd RAM regions through userfaultfd (lazy_ram.h).
// userfaultfd: Documentation/admin-guide/mm/userfaultfd.rst; the calls used
// are UFFDIO_API, UFFDIO_REGISTER (MODE_MISSING), UFFDIO_COPY, UFFDIO_WAKE.
#include "snapshot/lazy_ram.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/core.h>

#include "amber/error.h"
#include "amber/log.h"
#include "amber/thread_role.h"
#include "snapshot/chunk_decoder.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)  // uapi linux/userfaultfd.h, Linux 6.1
#endif

namespace amber::image {

namespace {

constexpr uint64_t kPage = 4096;

// The guest memory was unmapped under the fill (UFFDIO_COPY: ENOENT, no
// VMA): nothing can fault on it any more, so the thread just ends.
struct MemoryGone {};

[[noreturn]] void default_fatal(const std::string& message) {
  log::error("lazy RAM restore: {}; the guest cannot run on without these bytes (amber verify names every bad "
             "section)",
             message);
  run_fatal_cleanup(1);
  ::_exit(1);
}

}  // namespace

namespace {
std::atomic<int> g_kept_uffd{-1};
}  // namespace

void keep_userfaultfd_for_later() {
  std::string why;
  int fd = open_userfaultfd(why);
  if (fd >= 0) g_kept_uffd.store(fd);
}

int open_userfaultfd(std::string& why) {
  if (int kept = g_kept_uffd.exchange(-1); kept >= 0) return kept;
  // Without UFFD_USER_MODE_ONLY: KVM's get_user_pages and a read() into
  // guest memory fault in the kernel, and a user-mode-only userfaultfd
  // would fail those with EFAULT instead of waiting (userfaultfd(2)).
  int fd = static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
  if (fd < 0) {
    int e1 = errno;
    int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev < 0) {
      why = fmt::format("userfaultfd(2): {}; /dev/userfaultfd: {}", std::strerror(e1), std::strerror(errno));
      return -1;
    }
    fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    int e2 = errno;
    ::close(dev);
    if (fd < 0) {
      why = fmt::format("userfaultfd(2): {}; /dev/userfaultfd: USERFAULTFD_IOC_NEW: {}", std::strerror(e1),
                        std::strerror(e2));
      return -1;
    }
  }
  uffdio_api api{};
  api.api = UFFD_API;
  if (::ioctl(fd, UFFDIO_API, &api) < 0) {
    why = fmt::format("UFFDIO_API: {}", std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

// ------------------------------------------------------------- mapping

struct LazyMapper {
  static ResumeRam map(const Image& img, LazyOptions opt);
};

namespace {

// Registers the region's non-zero chunks, merged into runs of adjacent
// chunks (each run is one VMA). False with `why` on failure; the caller
// then unmaps `mem`, which drops any registration made.
bool register_chunks(int uffd, const Mapping& mem, const Image::RamRegion& r, std::string& why) {
  size_t j = 0;
  while (j < r.chunks.size()) {
    uint64_t from = r.chunks[j].offset, to = from;
    for (; j < r.chunks.size() && r.chunks[j].offset == to; ++j) {
      auto& c = r.chunks[j];
      if (c.offset % kPage || c.length % kPage) {  // open() allows only page multiples; be sure
        why = fmt::format("chunk at {} is not page aligned", c.offset);
        return false;
      }
      to = c.offset + c.length;
    }
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uint64_t>(mem.data()) + from;
    reg.range.len = to - from;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (::ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
      why = fmt::format("UFFDIO_REGISTER of {} bytes: {}", to - from, std::strerror(errno));
      return false;
    }
    if (!(reg.ioctls & (1ull << _UFFDIO_COPY))) {
      why = "UFFDIO_COPY is not offered for anonymous memory";
      return false;
    }
  }
  return true;
}

}  // namespace

ResumeRam LazyMapper::map(const Image& img, LazyOptions opt) {
  ResumeRam out;
  std::vector<LazyFill::Target> targets;
  uint64_t zero_chunks = 0;
  UniqueFd uffd;
  bool tried = false, unavailable = false;
  const auto& regions = img.ram_regions();
  if (!opt.place_at.empty() && opt.place_at.size() != regions.size())
    throw Error(fmt::format("{}: {} RAM regions, {} places for them", img.path(), regions.size(), opt.place_at.size()));
  auto at = [&](size_t i) { return opt.place_at.empty() ? nullptr : opt.place_at[i]; };
  for (size_t i = 0; i < regions.size(); ++i) {
    auto& r = regions[i];
    if (!r.compressed() || unavailable) {
      out.regions.push_back(img.map_ram(i, opt.eager_threads, opt.host_bytes, at(i)));
      continue;
    }
    img.check_ram_mappable(i, opt.host_bytes);
    // Chunks left out of the file are all zero: anonymous memory already is.
    zero_chunks += (r.size + r.chunk_size - 1) / r.chunk_size - r.chunks.size();
    Mapping mem = Mapping::anonymous(r.size, MAP_NORESERVE, at(i));
    if (r.chunks.empty()) {
      out.regions.push_back(std::move(mem));
      continue;
    }
    std::string why;
    if (!tried) {
      tried = true;
      int fd = opt.open_uffd ? opt.open_uffd(why) : open_userfaultfd(why);
      if (fd >= 0) uffd.reset(fd);
    }
    if (!uffd || !register_chunks(uffd.get(), mem, r, why)) {
      log::warn("{}: zstd RAM is decompressed before the guest starts (no lazy restore: {})", img.path(), why);
      unavailable = true;
      mem.reset();  // drops a partial registration with the pages
      out.regions.push_back(img.map_ram(i, opt.eager_threads, opt.host_bytes, at(i)));
      continue;
    }
    for (size_t j = 0; j < r.chunks.size(); ++j)
      targets.push_back({i, j, mem.data() + r.chunks[j].offset, r.chunks[j].length});
    out.regions.push_back(std::move(mem));
  }
  if (unavailable) {
    // Regions registered before the failure stay lazy only if the fill
    // runs; simpler to decode them too: rebuild every zstd region eagerly.
    targets.clear();
    uffd.reset();  // closing drops every registration (no page was touched)
    for (size_t i = 0; i < regions.size(); ++i)
      if (regions[i].compressed() && !regions[i].chunks.empty()) {
        out.regions[i].reset();
        out.regions[i] = img.map_ram(i, opt.eager_threads, opt.host_bytes, at(i));
      }
    return out;
  }
  if (targets.empty()) return out;
  std::sort(targets.begin(), targets.end(), [](auto& a, auto& b) { return a.host < b.host; });
  out.lazy = true;
  out.fill.reset(new LazyFill(img, std::move(uffd), std::move(targets), zero_chunks, std::move(opt)));
  return out;
}

ResumeRam map_ram_lazily(const Image& img, LazyOptions opt) { return LazyMapper::map(img, std::move(opt)); }

// ------------------------------------------------------------- the fill

LazyFill::Worker::Worker(const Image& img, const std::vector<Target>& targets) {
  uint64_t biggest = 0, frames = 0;
  for (auto& t : targets) {
    biggest = std::max(biggest, t.length);
    frames = std::max(frames, img.ram_regions()[t.region].chunks[t.chunk].frame_size);
  }
  buf = Mapping::anonymous(biggest, 0);
  dec = std::make_unique<ChunkDecoder>();
  dec->dctx = ZSTD_createDCtx();
  if (!dec->dctx) throw Error("zstd: out of memory");
  dec->frame.reserve(frames);  // decode() resizes within it: no allocation on the fill threads
}

LazyFill::Worker::~Worker() = default;

LazyFill::LazyFill(const Image& img, UniqueFd uffd, std::vector<Target> targets, uint64_t zero_chunks,
                   LazyOptions opt)
    : img_(img), uffd_(std::move(uffd)), targets_(std::move(targets)), opt_(std::move(opt)), zero_chunks_(zero_chunks) {
  in_ = std::make_unique<std::atomic<bool>[]>(targets_.size());
  for (size_t t = 0; t < targets_.size(); ++t) in_[t].store(false);
  left_.store(targets_.size());
  faulter_ = std::make_unique<Worker>(img_, targets_);
  touched_.resize(kMaxHotChunks);
  if (!opt_.prefetch.empty()) {
    // (region, chunk) -> target, to look the records' chunks up; a chunk
    // named twice, or naming nothing registered, is left out.
    std::vector<std::pair<uint64_t, size_t>> by_chunk(targets_.size());
    for (size_t t = 0; t < targets_.size(); ++t)
      by_chunk[t] = {(uint64_t{targets_[t].region} << 32) | targets_[t].chunk, t};
    std::sort(by_chunk.begin(), by_chunk.end());
    std::vector<bool> taken(targets_.size());
    for (auto& ref : opt_.prefetch) {
      uint64_t key = (uint64_t{ref.region} << 32) | ref.chunk;
      auto it = std::lower_bound(by_chunk.begin(), by_chunk.end(), std::pair<uint64_t, size_t>{key, 0});
      if (it == by_chunk.end() || it->first != key || taken[it->second]) continue;
      taken[it->second] = true;
      prefetch_targets_.push_back(it->second);
    }
  }
  if (!prefetch_targets_.empty()) prefetch_worker_ = std::make_unique<Worker>(img_, targets_);
  stop_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  bg_done_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_ || !bg_done_) throw SysError("eventfd (lazy RAM restore)", errno);
  if (opt_.background) background_worker_ = std::make_unique<Worker>(img_, targets_);
  thread_ = std::thread([this] { serve(); });
  if (opt_.background) background_ = std::thread([this] { fill_in_background(); });
  if (prefetch_worker_) prefetch_ = std::thread([this] { prefetch(); });
}

LazyFill::~LazyFill() {
  stopping_.store(true);
  uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  if (background_.joinable()) background_.join();  // unless serve() joined them
  if (prefetch_.joinable()) prefetch_.join();
}

void LazyFill::wait() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return done_; });
}

bool LazyFill::done() const {
  std::lock_guard lk(mu_);
  return done_;
}

LazyFill::Stats LazyFill::stats() const {
  return {targets_.size(), decoded_.load(), faults_.load(), fault_fills_.load(), zero_chunks_, prefetch_fills_.load()};
}

std::vector<ChunkRef> LazyFill::first_touched() const {
  size_t n = touched_count_.load(std::memory_order_acquire);
  std::vector<ChunkRef> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const Target& t = targets_[touched_[i]];
    out.push_back({static_cast<uint32_t>(t.region), static_cast<uint32_t>(t.chunk)});
  }
  return out;
}

size_t LazyFill::target_of(uint64_t addr) const {
  auto it = std::upper_bound(targets_.begin(), targets_.end(), addr,
                             [](uint64_t a, const Target& t) { return a < reinterpret_cast<uint64_t>(t.host); });
  if (it == targets_.begin()) return targets_.size();
  --it;
  if (addr - reinterpret_cast<uint64_t>(it->host) >= it->length) return targets_.size();
  return static_cast<size_t>(it - targets_.begin());
}

// glibc's malloc opens files in a thread: its first allocation makes the
// thread's arena and counts the CPUs once per process (openat of
// /sys/devices/system/cpu/online; in `amber resume` a fill thread is the
// first), and freeing a large block trims the arena's heap, which reads
// /proc/sys/vm/overcommit_memory once. Neither is in the fill role's filter
// (seen under seccomp): the arena is made before the filter is loaded, and
// the big buffers (zstd context, frame, chunk) are the constructor's, freed
// by the destructor on the thread that made them. What the fill threads
// still allocate is small (error texts).
static void enter_fill_role() {
  void* volatile arena = std::malloc(64);  // volatile: the compiler may not drop the pair
  std::free(arena);
  enter_thread_role(ThreadRole::kFill);
}

// The fault server: it owns the userfaultfd, serves every fault at once
// (decompressing the chunk itself if it is not in yet) and closes it when
// every chunk is in.
void LazyFill::serve() {
  enter_fill_role();
  try {
    while (left_.load() > 0) {
      pollfd p[3] = {{uffd_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}, {bg_done_.get(), POLLIN, 0}};
      int n = ::poll(p, 3, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw SysError("poll (lazy RAM restore)", errno);
      }
      if (p[1].revents) return;  // the destructor: the VM is gone
      if (p[0].revents & POLLIN) serve_faults();
      else if (p[0].revents) throw Error("the userfaultfd reported an error");
      if (p[2].revents) {
        uint64_t v;
        (void)!::read(bg_done_.get(), &v, sizeof v);
      }
    }
  } catch (const MemoryGone&) {
    return;
  } catch (const std::exception& e) {
    (opt_.on_fatal ? opt_.on_fatal : default_fatal)(e.what());
    return;  // on_fatal returned (tests): stop serving; faulting threads wait
  }
  // Every page of every registered chunk is present. The background thread
  // may still be copying a chunk that a fault brought in meanwhile: it
  // stops before its next one, and only then is the userfaultfd closed
  // (dropping the registrations; no fault can reach it again).
  stopping_.store(true);
  if (background_.joinable()) background_.join();
  if (prefetch_.joinable()) prefetch_.join();
  uffd_.reset();
  std::lock_guard lk(mu_);
  done_ = true;
  cv_.notify_all();
}

void LazyFill::serve_faults() {
  uffd_msg msgs[16];
  for (;;) {
    ssize_t n = ::read(uffd_.get(), msgs, sizeof msgs);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) throw SysError("read (userfaultfd)", errno);
    for (size_t k = 0; k < static_cast<size_t>(n) / sizeof(uffd_msg); ++k) {
      if (msgs[k].event != UFFD_EVENT_PAGEFAULT) continue;
      faults_.fetch_add(1, std::memory_order_relaxed);
      uint64_t addr = msgs[k].arg.pagefault.address & ~(kPage - 1);
      size_t t = target_of(addr);
      if (t < targets_.size() && !in_[t].load()) {
        fill(t, *faulter_);
        fault_fills_.fetch_add(1, std::memory_order_relaxed);
        // Only this thread writes touched_: fill the slot, then publish it.
        if (size_t n = touched_count_.load(std::memory_order_relaxed); n < touched_.size()) {
          touched_[n] = t;
          touched_count_.store(n + 1, std::memory_order_release);
        }
      } else {
        // Already copied in (another thread faulted on the chunk before
        // the copy woke it): wake it again, which costs nothing.
        wake(addr, kPage);
      }
    }
  }
}

// The background pass: the chunks nobody touched, in guest order, at the
// lowest priority (nice 19), so it takes the CPU from the guest's vCPUs as
// little as the scheduler allows. A chunk it and the fault server both
// bring in is copied once: the second copy finds the pages present.
void LazyFill::fill_in_background() {
  // Before the filter: setpriority is not in it.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  enter_fill_role();
  try {
    for (size_t t = 0; t < targets_.size() && !stopping_.load(); ++t)
      if (!in_[t].load()) fill(t, *background_worker_);
  } catch (const MemoryGone&) {
  } catch (const std::exception& e) {
    (opt_.on_fatal ? opt_.on_fatal : default_fatal)(e.what());
    return;
  }
  uint64_t one = 1;
  (void)!::write(bg_done_.get(), &one, sizeof one);
}

// The chunks an earlier resume saw faulted first, in that order, at normal
// priority: the guest is about to touch them, so each one filled here is a
// fault (and a wait for zstd) it will not take.
void LazyFill::prefetch() {
  enter_fill_role();
  try {
    for (size_t t : prefetch_targets_) {
      if (stopping_.load()) break;
      if (!in_[t].load() && fill(t, *prefetch_worker_)) prefetch_fills_.fetch_add(1, std::memory_order_relaxed);
    }
  } catch (const MemoryGone&) {
  } catch (const std::exception& e) {
    (opt_.on_fatal ? opt_.on_fatal : default_fatal)(e.what());
  }
}

bool LazyFill::fill(size_t t, Worker& w) {
  const Target& target = targets_[t];
  // Decoded into a buffer, checked, then copied: a bad chunk never reaches
  // guest memory, not even partly.
  w.dec->decode(img_, target.region, target.chunk, w.buf.data());
  decoded_.fetch_add(1, std::memory_order_relaxed);
  copy_in(target, w.buf.data());
  if (in_[t].exchange(true)) return false;  // another thread got there first
  if (left_.fetch_sub(1) == 1) {
    uint64_t one = 1;  // the last chunk: the fault server closes up
    (void)!::write(bg_done_.get(), &one, sizeof one);
  }
  return true;
}

void LazyFill::copy_in(const Target& t, const uint8_t* src) {
  uint64_t dst = reinterpret_cast<uint64_t>(t.host), done = 0;
  while (done < t.length) {
    uffdio_copy c{};
    c.dst = dst + done;
    c.src = reinterpret_cast<uint64_t>(src) + done;
    c.len = t.length - done;
    if (::ioctl(uffd_.get(), UFFDIO_COPY, &c) == 0) break;
    int e = errno;
    if (c.copy > 0) done += static_cast<uint64_t>(c.copy);  // copied (and woken) up to a failing page
    if (e == EAGAIN) continue;  // partly copied, or the address space changed: go on
    if (e == EEXIST) {          // a page already present: it holds these bytes already
      done += kPage;
      continue;
    }
    if (e == ENOENT) throw MemoryGone{};  // unmapped: a resume that failed after map_ram_lazily
    throw SysError(fmt::format("UFFDIO_COPY of RAM region {} chunk {}", t.region, t.chunk), e);
  }
  wake(dst, t.length);  // a waiter on a page that was present (EEXIST) is woken too
}

void LazyFill::wake(uint64_t addr, uint64_t len) {
  uffdio_range r{addr, len};
  if (::ioctl(uffd_.get(), UFFDIO_WAKE, &r) < 0 && errno != ENOENT)
    throw SysError("UFFDIO_WAKE", errno);
}

}  // namespace amber::image
