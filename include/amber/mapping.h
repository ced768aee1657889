#pragma once
// RAII owner of one mmap()ed range.
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "amber/error.h"

namespace amber {

// Faults in the pages under [p, p + len) for writing with one madvise call
// (MADV_POPULATE_WRITE, Linux 5.14) instead of one page fault per 4 KiB as
// the bytes are written: under nested virtualization a fault costs tens of
// microseconds. Only for memory about to be written in full (it allocates).
// Best effort: where the kernel lacks it, pages fault in lazily as before.
inline void populate_for_write(void* p, size_t len) noexcept {
  constexpr int kMadvPopulateWrite = 23;  // uapi asm-generic/mman-common.h
  constexpr uintptr_t kPage = 4096;
  if (len == 0) return;
  uintptr_t from = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
  uintptr_t to = (reinterpret_cast<uintptr_t>(p) + len + kPage - 1) & ~(kPage - 1);
  (void)::madvise(reinterpret_cast<void*>(from), to - from, kMadvPopulateWrite);
}

// The same for pages about to be read in full (MADV_POPULATE_READ, 22):
// a file mapping's pages come in from the page cache in one call.
inline void populate_for_read(const void* p, size_t len) noexcept {
  constexpr int kMadvPopulateRead = 22;  // uapi asm-generic/mman-common.h
  constexpr uintptr_t kPage = 4096;
  if (len == 0) return;
  uintptr_t from = reinterpret_cast<uintptr_t>(p) & ~(kPage - 1);
  uintptr_t to = (reinterpret_cast<uintptr_t>(p) + len + kPage - 1) & ~(kPage - 1);
  (void)::madvise(reinterpret_cast<void*>(from), to - from, kMadvPopulateRead);
}

class Mapping {
 public:
  Mapping() = default;
  Mapping(void* addr, size_t len) : addr_(static_cast<uint8_t*>(addr)), len_(len) {}
  Mapping(Mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  // Anonymous private read-write memory (lazily zero-filled by the kernel).
  // `at`: exactly there (MAP_FIXED), replacing what was mapped: a warm VM's
  // reserved guest RAM (src/vmm/warm_vm.h); null: where the kernel likes.
  static Mapping anonymous(size_t len, int extra_flags = MAP_NORESERVE, void* at = nullptr) {
    if (at) extra_flags |= MAP_FIXED;
    void* p = ::mmap(at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra_flags, -1, 0);
    if (p == MAP_FAILED) throw SysError(fmt::format("mmap {} bytes", len), errno);
    return Mapping(p, len);
  }

  // A file range mapped with the given protection and flags (`at` as for
  // anonymous()).
  static Mapping file(int fd, size_t len, off_t offset, int prot, int flags, void* at = nullptr) {
    if (at) flags |= MAP_FIXED;
    void* p = ::mmap(at, len, prot, flags, fd, offset);
    if (p == MAP_FAILED) throw SysError(fmt::format("mmap {} bytes of fd at offset {}", len, offset), errno);
    return Mapping(p, len);
  }

  uint8_t* data() const noexcept { return addr_; }
  size_t size() const noexcept { return len_; }
  explicit operator bool() const noexcept { return addr_ != nullptr; }

  // Gives the mapping up without unmapping it (someone maps over it).
  void* release() noexcept {
    len_ = 0;
    return std::exchange(addr_, nullptr);
  }

  void reset() noexcept {
    if (addr_) ::munmap(addr_, len_);
    addr_ = nullptr;
    len_ = 0;
  }

 private:
  uint8_t* addr_ = nullptr;
  size_t len_ = 0;
};

}  // namespace amber
