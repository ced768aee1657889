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
#include "virtio/p9/server.h"
#include "virtio/p9/test_client.h"

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
    for (int i = 0; i < fuzz::kP9MaxMessages && size >= 4; ++i) {
      size_t limit = le16(data), len = std::min<size_t>(le16(data + 2), size - 4);
      server->handle(std::span<const uint8_t>(data + 4, len), reply, limit);
      if (reply.size() > limit || reply.size() > p9::Server::kMaxMsize) {
        std::fprintf(stderr, "a %zu-byte reply for a %zu-byte buffer\n", reply.size(), limit);
        std::abort();
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
