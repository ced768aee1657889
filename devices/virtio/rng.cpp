#include "virtio/rng.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace amber::virtio {

Rng::Rng(Fill fill) : fill_(fill ? fill : &Rng::host_random) {}

bool Rng::host_random(std::span<uint8_t> out) noexcept {
  size_t done = 0;
  while (done < out.size()) {
    // Flags 0: the urandom pool, which blocks only until the host's CRNG
    // is first seeded (long before any VM runs).
    ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += size_t(n);
  }
  return true;
}

void Rng::read_config(uint64_t, std::span<uint8_t> data) const noexcept { std::memset(data.data(), 0, data.size()); }

bool Rng::process_queue(uint32_t index, Queue& q, const GuestMemory& mem) noexcept {
  if (index != 0) return false;
  return q.serve_all(mem, chain_, [&](const Chain& c) { return serve(c, mem); });
}

uint32_t Rng::serve(const Chain& chain, const GuestMemory& mem) noexcept {
  uint32_t written = 0;
  for (auto& b : chain.buffers) {
    // §5.4.6.1: the driver places only device-writable buffers; readable
    // ones carry nothing for this device and are skipped.
    if (!b.writable || b.len == 0) continue;
    uint32_t len = std::min(b.len, kMaxBytesPerRequest - written);  // guest-controlled
    if (len == 0) break;
    auto s = mem.try_slice(b.addr, len);  // guest-controlled
    if (!s) {
      log::guest_warn(warn_limit_, "virtio-rng: request buffer outside RAM");
      break;  // the bytes so far are still good; report just those
    }
    if (!fill_(*s)) {
      log::guest_warn(warn_limit_, "virtio-rng: the host's getrandom failed: {}", std::strerror(errno));
      break;
    }
    written += len;
  }
  // Used length = bytes written into the device-writable buffers (§2.7.8),
  // which the driver reads as the amount of entropy delivered.
  return written;
}

}  // namespace amber::virtio
