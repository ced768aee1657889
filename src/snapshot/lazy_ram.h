#pragma once
// Guest RAM of an image for a resume, with zstd regions filled lazily
// (docs/image-format.md "Lazy restore of a zstd region").
//
// A zstd region becomes anonymous memory. Its all-zero chunks (left out of
// the file) are never touched: anonymous memory reads as zero. The others
// are registered with a userfaultfd (UFFDIO_REGISTER_MODE_MISSING); a
// "fill" thread decompresses the chunk holding a faulting address, checks
// both its checksums and copies it in whole (UFFDIO_COPY), and a second one
// at nice 19 fills the remaining chunks in order. When every chunk is in,
// the userfaultfd is closed and both end. Faults from KVM (a vCPU's EPT fault),
// from VMM threads and from system calls writing into guest memory all
// wait on the same userfaultfd, so every reader sees the image's bytes.
//
// A chunk found bad (checksum, zstd error, short file) can no longer fail
// the resume: the fill thread reports it through LazyOptions::on_fatal,
// whose default prints the error naming the chunk and ends the process with
// status 1. The guest never sees the wrong bytes and no thread waits forever.
//
// A resume can also be given the chunks an earlier resume of the same file
// saw faulted first (LazyOptions::prefetch, hot_chunks.h): a third thread,
// at normal priority, fills those in that order while the guest starts, and
// first_touched() gives this resume's own list for the next one.
//
// Where no userfaultfd can be had (vm.unprivileged_userfaultfd=0 without
// CAP_SYS_PTRACE, no /dev/userfaultfd access, an old kernel), the zstd
// regions are decompressed eagerly, as Image::map_ram does, with one log line.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "amber/mapping.h"
#include "amber/unique_fd.h"
#include "snapshot/hot_chunks.h"
#include "snapshot/image.h"

namespace amber::image {

struct ChunkDecoder;

struct LazyOptions {
  // Returns a userfaultfd that can serve kernel faults (no
  // UFFD_USER_MODE_ONLY: KVM's faults are kernel faults), O_CLOEXEC and
  // O_NONBLOCK, or -1 with `why` set. Default: open_userfaultfd(). Tests
  // inject failure here.
  std::function<int(std::string& why)> open_uffd;
  // Called on the fill thread with the message when a chunk cannot be
  // decoded; must not return (default: log it, restore the terminal, _exit(1)).
  // A test that returns from it leaves the faulting thread waiting.
  std::function<void(const std::string& message)> on_fatal;
  // Fill the chunks nobody touched in the background (false: only on
  // faults; tests of the fault path).
  bool background = true;
  unsigned eager_threads = 0;  // the fallback's decompression threads (0: Image::map_ram's default)
  uint64_t host_bytes = 0;     // Image::map_ram's RAM check (0: this host's RAM plus swap)
  // Where each RAM region goes (Image::map_ram's `at`): a warm VM's reserved
  // ranges (src/vmm/warm_vm.h). Empty: anywhere.
  std::vector<void*> place_at;
  // Chunks to fill first, in this order, on a thread of their own at normal
  // priority (hot_chunks.h). Entries naming no registered chunk are skipped.
  std::vector<ChunkRef> prefetch;
};

// userfaultfd(2), then /dev/userfaultfd (USERFAULTFD_IOC_NEW, Linux 6.1),
// then UFFDIO_API; -1 and `why` when neither works. Returns the one kept by
// keep_userfaultfd_for_later() first, once.
int open_userfaultfd(std::string& why);
// Opens a userfaultfd now and keeps it for the next open_userfaultfd(): for
// `--jail`, called as root just before the drop to the jail user (a
// userfaultfd belongs to the process's memory, not to its credentials).
// Quietly keeps nothing when none can be had.
void keep_userfaultfd_for_later();

class LazyFill {
 public:
  struct Stats {
    uint64_t chunks = 0;         // non-zero chunks registered
    uint64_t decoded = 0;        // chunks decompressed (at most once without the background pass)
    uint64_t faults = 0;         // fault messages read
    uint64_t fault_fills = 0;    // chunks filled because of a fault
    uint64_t zero_chunks = 0;    // chunks left out of the file: never touched
    uint64_t prefetch_fills = 0; // chunks the prefetch thread brought in before anyone touched them
  };
  LazyFill(const LazyFill&) = delete;
  LazyFill& operator=(const LazyFill&) = delete;
  // Stops the fill thread (chunks not yet in stay missing: only for a VM
  // that no longer runs) and closes the userfaultfd.
  ~LazyFill();

  // Returns once every chunk is in and the userfaultfd is closed: for what
  // must see all of RAM without faulting it in page by page or that cannot
  // fault at all (a save's pagemap scan, the background save's fork, an
  // in-place reset). Never returns when on_fatal returned.
  void wait();
  bool done() const;
  Stats stats() const;
  // The chunks brought in because of a fault, in the order of those faults,
  // at most kMaxHotChunks: what the guest needed before the background pass
  // got there. For HotChunkRecords::store once the fill is done.
  std::vector<ChunkRef> first_touched() const;

 private:
  friend struct LazyMapper;
  struct Target {
    size_t region;    // image RAM region
    size_t chunk;     // index in its chunk table
    uint8_t* host;    // where the chunk's bytes go
    uint64_t length;  // bytes (a page multiple)
  };
  // What one fill thread decodes with, made and freed on the main thread
  // (see enter_fill_role in lazy_ram.cpp).
  struct Worker {
    Worker(const Image& img, const std::vector<Target>& targets);
    ~Worker();
    Mapping buf;  // one chunk, page aligned (UFFDIO_COPY's source)
    std::unique_ptr<ChunkDecoder> dec;
  };
  LazyFill(const Image& img, UniqueFd uffd, std::vector<Target> targets, uint64_t zero_chunks, LazyOptions opt);
  void serve();
  void serve_faults();
  void fill_in_background();
  void prefetch();
  bool fill(size_t t, Worker& w);  // true when this call brought the chunk in
  void copy_in(const Target& t, const uint8_t* src);
  void wake(uint64_t addr, uint64_t len);
  size_t target_of(uint64_t addr) const;  // targets_.size() when none

  const Image& img_;
  UniqueFd uffd_;
  UniqueFd stop_;     // eventfd: the destructor asks the fault server to end
  UniqueFd bg_done_;  // eventfd: the background pass ended, or the last chunk came in
  std::vector<Target> targets_;  // sorted by host address
  std::unique_ptr<std::atomic<bool>[]> in_;  // per target: copied in
  std::atomic<size_t> left_{0};              // targets not yet in
  std::atomic<bool> stopping_{false};        // the background pass stops before its next chunk
  LazyOptions opt_;
  std::unique_ptr<Worker> faulter_, background_worker_, prefetch_worker_;
  std::vector<size_t> prefetch_targets_;  // LazyOptions::prefetch as indices into targets_
  std::vector<size_t> touched_;           // first_touched(), reserved: the fault server never allocates
  std::atomic<size_t> touched_count_{0};  // entries of touched_ published to other threads
  std::atomic<uint64_t> decoded_{0}, faults_{0}, fault_fills_{0}, prefetch_fills_{0};
  uint64_t zero_chunks_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread background_;  // the background pass (LazyOptions::background)
  std::thread prefetch_;    // LazyOptions::prefetch, when it names any chunk
  std::thread thread_;      // the fault server
};

// Every RAM region of `img`, in order, and the fill serving the lazy ones
// (null when there is none: no zstd region, nothing non-zero, or no
// userfaultfd). Keep `fill` alive as long as the memory is used, destroy it
// before the mappings, and keep `img` alive as long as `fill`.
struct ResumeRam {
  std::vector<Mapping> regions;
  std::unique_ptr<LazyFill> fill;
  bool lazy = false;  // a userfaultfd serves at least one region
};
ResumeRam map_ram_lazily(const Image& img, LazyOptions opt = {});

}  // namespace amber::image
