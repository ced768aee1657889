#pragma once
// virtio-9p: the "9P transport", device ID 9 in virtio 1.2 §5 (the spec
// gives it no section of its own; the layout below is Linux's
// include/uapi/linux/virtio_9p.h, the driver net/9p/trans_virtio.c, which
// QEMU and crosvm serve the same way). One request queue; each
// chain holds one T-message in its driver-readable buffers and room for the
// R-message in its device-writable ones. Config space is
//   le16 tag_len; u8 tag[tag_len];
// offered with VIRTIO_9P_MOUNT_TAG (feature bit 0): the name the guest
// passes to `mount -t 9p TAG DIR`.
//
// Requests are served synchronously inside process_queue(), like
// virtio-blk, so none is in flight when the VM pauses. The server's fids
// are host state that an image cannot carry: a VM with a share cannot be
// saved (docs/shares.md), and save() says so.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "amber/log.h"
#include "virtio/p9/server.h"
#include "virtio/virtio_device.h"

namespace amber::virtio {

inline constexpr uint32_t kDeviceId9p = 9;
inline constexpr uint64_t kP9FeatureMountTag = 1ull << 0;  // VIRTIO_9P_MOUNT_TAG

class P9Device : public VirtioDevice {
 public:
  // Linux's trans_virtio uses 128-entry rings (VIRTQUEUE_NUM).
  static constexpr uint16_t kQueueSize = 128;

  P9Device(std::unique_ptr<p9::Server> server, std::string tag);

  uint32_t device_type() const noexcept override { return kDeviceId9p; }
  uint64_t features() const noexcept override { return kP9FeatureMountTag; }
  uint32_t num_queues() const noexcept override { return 1; }
  uint16_t queue_max_size() const noexcept override { return kQueueSize; }
  void read_config(uint64_t offset, std::span<uint8_t> data) const noexcept override;
  void write_config(uint64_t offset, std::span<const uint8_t> data) noexcept override;
  bool process_queue(uint32_t index, Queue& q, const GuestMemory& mem) noexcept override;
  void reset() noexcept override { server_->reset(); }
  // Throw Error: the fid table (open host files) does not fit in an image.
  StateNode save() const override;
  void restore(const StateNode& node) override;

  const std::string& tag() const noexcept { return tag_; }
  p9::Server& server() noexcept { return *server_; }

 private:
  // Serves one chain; returns the bytes written into its writable buffers.
  uint32_t serve(const Chain& chain, const GuestMemory& mem) noexcept;

  std::unique_ptr<p9::Server> server_;
  std::string tag_;
  std::vector<uint8_t> config_;  // tag_len + tag, as the guest reads it
  Chain chain_;
  std::vector<uint8_t> request_, reply_;
  log::RateLimit warn_limit_;
};

}  // namespace amber::virtio
