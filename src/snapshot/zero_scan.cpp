#include "snapshot/zero_scan.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "amber/unique_fd.h"
#include "snapshot/image_format.h"

namespace amber::image {

bool is_zero(const uint8_t* p, size_t len) {
  size_t i = 0;
  // Unaligned-safe word loads through memcpy compile to plain moves.
  for (; i + 64 <= len; i += 64) {
    uint64_t w[8];
    std::memcpy(w, p + i, 64);
    if ((w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) != 0) return false;
  }
  for (; i < len; ++i)
    if (p[i]) return false;
  return true;
}

std::vector<uint8_t> populated_pages(const uint8_t* p, size_t npages) {
  std::vector<uint8_t> out;
  UniqueFd fd(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!fd) return out;
  std::vector<uint64_t> entries(npages);
  off_t off = static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / kPageSize * 8);
  size_t want = npages * 8, got = 0;
  auto* dst = reinterpret_cast<char*>(entries.data());
  while (got < want) {
    ssize_t n = ::pread(fd.get(), dst + got, want - got, off + static_cast<off_t>(got));
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  fd.reset();
  if (got != want) return out;
  out.resize(npages);
  // pagemap(5): bit 63 present in RAM, bit 62 swapped out.
  constexpr uint64_t kPresent = 1ull << 63, kSwapped = 1ull << 62;
  for (size_t i = 0; i < npages; ++i) out[i] = (entries[i] & (kPresent | kSwapped)) ? 1 : 0;
  return out;
}

void for_each_nonzero_run(const uint8_t* base, size_t len, const std::vector<uint8_t>& populated,
                          const std::function<void(uint64_t, uint64_t)>& run) {
  size_t npages = len / kPageSize;
  size_t start = 0;
  bool in_run = false;
  for (size_t i = 0; i < npages; ++i) {
    bool data = (populated.empty() || populated[i]) && !is_zero(base + i * kPageSize, kPageSize);
    if (data && !in_run) {
      start = i;
      in_run = true;
    } else if (!data && in_run) {
      run(start * kPageSize, (i - start) * kPageSize);
      in_run = false;
    }
  }
  if (in_run) run(start * kPageSize, (npages - start) * kPageSize);
}

}  // namespace amber::image
