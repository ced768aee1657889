#include "virtio/p9/p9_device.h"

#include <algorithm>
#include <cstring>

#include "amber/error.h"

namespace amber::virtio {

P9Device::P9Device(std::unique_ptr<p9::Server> server, std::string tag)
    : server_(std::move(server)), tag_(std::move(tag)) {
  if (!server_) throw Error("virtio-9p: no server");
  if (tag_.empty() || tag_.size() > p9::ShareSpec::kMaxTag) throw Error("virtio-9p: bad mount tag");
  config_.resize(2 + tag_.size());
  config_[0] = uint8_t(tag_.size());  // le16 tag_len
  config_[1] = uint8_t(tag_.size() >> 8);
  std::memcpy(config_.data() + 2, tag_.data(), tag_.size());
  chain_.buffers.reserve(kQueueSize + Queue::kMaxIndirect);
  request_.reserve(p9::Server::kMaxMsize);
  reply_.reserve(p9::Server::kMaxMsize);
}

void P9Device::read_config(uint64_t offset, std::span<uint8_t> data) const noexcept {
  std::memset(data.data(), 0, data.size());
  if (offset >= config_.size()) return;  // guest-controlled
  size_t n = std::min<uint64_t>(data.size(), config_.size() - offset);
  std::memcpy(data.data(), config_.data() + offset, n);
}

void P9Device::write_config(uint64_t offset, std::span<const uint8_t> data) noexcept {
  // struct virtio_9p_config is read-only: the driver only reads the tag.
  log::guest_warn(warn_limit_, "virtio-9p: ignored {}-byte config write at {:#x}", data.size(), offset);
}

bool P9Device::process_queue(uint32_t index, Queue& q, const GuestMemory& mem) noexcept {
  if (index != 0) return false;
  return q.serve_all(mem, chain_, [&](const Chain& c) { return serve(c, mem); });
}

uint32_t P9Device::serve(const Chain& chain, const GuestMemory& mem) noexcept {
  // Gather the T-message. The message may not exceed msize, so reading one
  // byte more is enough for the server to see an oversized one: the copy
  // (and host memory) stays bounded whatever lengths the guest wrote.
  uint32_t limit = (server_->msize() ? server_->msize() : p9::Server::kMaxMsize) + 1;
  request_.clear();
  uint64_t writable = 0;
  for (auto& b : chain.buffers) {
    if (b.writable) {
      writable += b.len;
      continue;
    }
    uint32_t n = std::min<uint64_t>(b.len, limit - request_.size());  // guest-controlled
    if (n == 0) continue;
    auto s = mem.try_slice(b.addr, n);
    if (!s) {
      log::guest_warn(warn_limit_, "virtio-9p: request buffer outside RAM");
      return 0;
    }
    request_.insert(request_.end(), s->begin(), s->end());
  }
  server_->handle(request_, reply_, size_t(std::min<uint64_t>(writable, p9::Server::kMaxMsize)));
  // Scatter the R-message over the writable buffers in order: Linux's
  // zero-copy reads put the Rread header in the first and the data in the
  // following ones (trans_virtio.c p9_virtio_zc_request).
  size_t done = 0;
  for (auto& b : chain.buffers) {
    if (done == reply_.size()) break;
    if (!b.writable || b.len == 0) continue;
    size_t n = std::min<size_t>(b.len, reply_.size() - done);
    auto s = mem.try_slice(b.addr, n);
    if (!s) {
      log::guest_warn(warn_limit_, "virtio-9p: reply buffer outside RAM");
      return uint32_t(done);
    }
    std::memcpy(s->data(), reply_.data() + done, n);
    done += n;
  }
  // Used length = bytes written (§2.7.8).
  return uint32_t(done);
}

StateNode P9Device::save() const {
  throw Error(fmt::format("virtio-9p share '{}': a VM with a --share cannot be saved (docs/shares.md)", tag_));
}

void P9Device::restore(const StateNode&) {
  throw Error(fmt::format("virtio-9p share '{}': images never hold a share (docs/shares.md)", tag_));
}

}  // namespace amber::virtio
