// libFuzzer target: an arbitrary byte string as an image file. Whatever the
// bytes, open/verify/describe/map_ram/read_disk must either succeed or throw
// amber::Error: no crash, no out-of-bounds access, no unbounded allocation.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>

#include "amber/error.h"
#include "amber/unique_fd.h"
#include "snapshot/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A memfd keeps the fuzzer off the disk; /proc/self/fd gives it a path.
  amber::UniqueFd fd(memfd_create("image_fuzz", MFD_CLOEXEC));
  if (!fd) return 0;
  size_t done = 0;
  while (done < size) {
    ssize_t n = write(fd.get(), data + done, size - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd.get());
  try {
    auto img = amber::image::Image::open(path);
    (void)img.verify();
    (void)img.describe(false);
    (void)img.describe(true);
    for (size_t i = 0; i < img.ram_regions().size(); ++i) {
      auto& r = img.ram_regions()[i];
      if (r.size > (64u << 20)) continue;  // keep iterations fast; bounds were checked at open
      auto m = img.map_ram(i, 1);
      volatile uint8_t sink = 0;
      for (auto& run : r.runs) sink = sink + m.data()[run.offset] + m.data()[run.offset + run.length - 1];
      (void)sink;
    }
    // Embedded disks through their extent tables (packed or in place): the
    // first few extents and the bytes just past them (a hole or the next one).
    std::vector<uint8_t> buf;
    for (size_t i = 0; i < img.disks().size(); ++i) {
      auto& d = img.disks()[i];
      for (size_t j = 0; j < d.extents.size() && j < 4; ++j) {
        auto& e = d.extents[j];
        buf.resize(std::min<uint64_t>(e.length + 4096, d.size - e.offset));
        try {
          img.read_disk(i, e.offset, buf);
        } catch (const amber::Error&) {
        }
      }
    }
  } catch (const amber::Error&) {
  }
  return 0;
}
