// libFuzzer target: the virtio-9p server (devices/virtio/p9/server.h) fed
// arbitrary T-message sequences (format in p9_fuzz_input.h) over a fresh
// temporary share. Besides crashes, sanitizer reports and hangs, it checks
// the containment rule after every input: the share's parent directory
// holds exactly what it held before (the share and one sentinel file, whose
// contents never change), so any write, create, rename or remove that got
// out of the share aborts.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "amber/log.h"
#include "virtio/fuzz/p9_fuzz_input.h"
#include "virtio/mmio_transport.h"
#include "virtio/p9/p9_device.h"
#include "virtio/p9/server.h"
#include "virtio/p9/test_client.h"
#include "virtio/testing/mmio_driver.h"

using namespace amber;
using namespace amber::virtio;

namespace {
const char kSentinel[] = "outside-the-share";

std::string make_tree() {
  const char* env = std::getenv("TMPDIR");
  std::string tmpl = std::string(env && *env ? env : "/tmp") + "/amber-p9-fuzz-XXXXXX";
  if (!::mkdtemp(tmpl.data())) std::abort();
  std::filesystem::create_directories(tmpl + "/share/dir");
  std::ofstream(tmpl + "/outside") << kSentinel;
  std::ofstream(tmpl + "/share/file") << "some file content";
  std::ofstream(tmpl + "/share/dir/inner") << "inner";
  std::filesystem::create_symlink("../outside", tmpl + "/share/rel-out");
  std::filesystem::create_symlink(tmpl + "/outside", tmpl + "/share/abs-out");
  std::filesystem::create_symlink("..", tmpl + "/share/up");
  return tmpl;
}

void check_contained(const std::string& top) {
  std::set<std::string> names;
  for (auto& e : std::filesystem::directory_iterator(top)) names.insert(e.path().filename());
  std::ifstream in(top + "/outside");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (names != std::set<std::string>{"outside", "share"} || content != kSentinel) {
    std::fprintf(stderr, "the guest changed the share's parent directory %s\n", top.c_str());
    std::abort();
  }
}

uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | p[1] << 8); }

// One message through the virtio device: a chain with the message in two
// readable buffers (split where `limit` says) and the reply space as an
// 11-byte and a (limit - 11)-byte writable buffer, Linux's zero-copy read
// layout. The used length must fit the writable bytes.
struct DeviceRig {
  explicit DeviceRig(std::unique_ptr<p9::Server> server)
      : t("9p", ram.mem(), irq, std::make_unique<P9Device>(std::move(server), "fuzz")), regs(t) {
    if (!regs.start(kFeatureVersion1 | kP9FeatureMountTag, drv)) std::abort();
  }
  void send(std::span<const uint8_t> msg, size_t limit) {
    auto c = drv.chain();
    size_t split = msg.empty() ? 0 : limit % (msg.size() + 1);
    if (split > 0) c.readable(msg.first(split));
    if (split < msg.size()) c.readable(msg.subspan(split));
    uint32_t head = uint32_t(std::min<size_t>(limit, 11)), tail = uint32_t(limit - head);
    c.writable(head > 0 ? head : 1);
    if (tail > 0) c.writable(tail);
    c.publish();
    regs.notify(0);
    auto u = drv.next_used();
    if (!u || u->len > std::max<size_t>(limit, 1)) {
      std::fprintf(stderr, "no used entry, or one longer than the %zu writable bytes\n", limit);
      std::abort();
    }
  }
  // Room for 64 messages and replies of 64 KiB each (the driver's buffer
  // heap only grows).
  testing::TestMemory ram{9u << 20};
  testing::RecordingIrq irq;
  testing::FakeDriver drv{ram.mem(), 16};
  MmioTransport t;
  testing::MmioDriver regs;
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  log::level() = log::Level::kError;  // guest warnings are expected here
  if (size < 1) return 0;
  uint8_t flags = data[0];
  data++;
  size--;
  std::string top = make_tree();
  {
    auto server = p9::Server::open({top + "/share", "fuzz", bool(flags & fuzz::kP9FlagReadOnly)});
    std::vector<uint8_t> reply;
    if (flags & fuzz::kP9FlagSession) {
      server->handle(p9::testing::Msg(p9::kTversion, p9::kNoTag).u32(8192).str("9P2000.L").bytes(), reply, 8192);
      server->handle(p9::testing::Msg(p9::kTattach).u32(0).u32(p9::kNoFid).str("").str("").u32(0).bytes(), reply, 8192);
    }
    std::unique_ptr<DeviceRig> rig;
    if (flags & fuzz::kP9FlagDevice) rig = std::make_unique<DeviceRig>(std::move(server));
    for (int i = 0; i < fuzz::kP9MaxMessages && size >= 4; ++i) {
      size_t limit = le16(data), len = std::min<size_t>(le16(data + 2), size - 4);
      if (rig) {
        rig->send(std::span<const uint8_t>(data + 4, len), limit);
      } else {
        server->handle(std::span<const uint8_t>(data + 4, len), reply, limit);
        if (reply.size() > limit || reply.size() > p9::Server::kMaxMsize) {
          std::fprintf(stderr, "a %zu-byte reply for a %zu-byte buffer\n", reply.size(), limit);
          std::abort();
        }
      }
      data += 4 + len;
      size -= 4 + len;
    }
  }
  check_contained(top);
  std::error_code ec;
  std::filesystem::remove_all(top, ec);
  return 0;
}
