// Writes the seed corpus of blk_fuzz: well-formed request mixes laid out by
// the test driver, so the fuzzer starts from inputs that reach deep paths.
//   make_seeds OUT_DIR
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "virtio/blk.h"
#include "virtio/fuzz/blk_fuzz_input.h"
#include "virtio/testing/fake_driver.h"

using namespace amber::virtio;

namespace {
std::vector<uint8_t> header(uint32_t type, uint64_t sector) {
  std::vector<uint8_t> h(16, 0);
  std::memcpy(h.data(), &type, 4);
  std::memcpy(h.data() + 8, &sector, 8);
  return h;
}
std::vector<uint8_t> segment(uint64_t sector, uint32_t n, uint32_t flags) {
  std::vector<uint8_t> s(16);
  std::memcpy(s.data(), &sector, 8);
  std::memcpy(s.data() + 8, &n, 4);
  std::memcpy(s.data() + 12, &flags, 4);
  return s;
}

void emit(const std::string& dir, const std::string& name, uint8_t flags, auto&& build) {
  testing::TestMemory ram(fuzz::kRamSize);
  testing::FakeDriver d(ram.mem(), 16);
  build(d);
  fuzz::FuzzHeader h{flags, 4, 0, 0, uint32_t(d.desc_addr()), uint32_t(d.avail_addr()), uint32_t(d.used_addr())};
  auto& bytes = ram.bytes();
  size_t len = bytes.size();
  while (len > 0 && bytes[len - 1] == 0) --len;  // the fuzzer zero-pads
  std::ofstream out(dir + "/" + name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(&h), sizeof h);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(len));
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  emit(dir, "read_write_flush", 0, [](testing::FakeDriver& d) {
    d.chain().readable(header(kBlkTypeIn, 1)).writable(1024).writable(1).publish();
    d.chain().readable(header(kBlkTypeOut, 3)).readable(std::vector<uint8_t>(512, 0x5a)).writable(1).publish();
    d.chain().readable(header(kBlkTypeFlush, 0)).writable(1).publish();
  });
  emit(dir, "get_id_indirect", fuzz::kFlagIndirect, [](testing::FakeDriver& d) {
    d.chain().readable(header(kBlkTypeGetId, 0)).writable(20).writable(1).publish();
    d.chain().readable(header(kBlkTypeIn, 0)).indirect().writable(512).writable(512).writable(1).publish();
  });
  emit(dir, "discard_zeroes_event_idx", fuzz::kFlagEventIdx, [](testing::FakeDriver& d) {
    d.chain().readable(header(kBlkTypeDiscard, 0)).readable(segment(0, 8, 0)).writable(1).publish();
    auto segs = segment(8, 8, kBlkDiscardUnmap);
    auto more = segment(20, 1, 0);
    segs.insert(segs.end(), more.begin(), more.end());
    d.chain().readable(header(kBlkTypeWriteZeroes, 0)).readable(segs).writable(1).publish();
    d.set_used_event(1);
  });
  emit(dir, "read_only_write", fuzz::kFlagReadOnly, [](testing::FakeDriver& d) {
    d.chain().readable(header(kBlkTypeOut, 0)).readable(512).writable(1).publish();
    d.chain().readable(header(kBlkTypeIn, 63)).writable(512).writable(1).publish();
  });
  emit(dir, "loop", 0, [](testing::FakeDriver& d) {
    d.write_desc(0, amber::virtio::RawDesc{0x8000, 16, kDescFlagNext, 1});
    d.write_desc(1, amber::virtio::RawDesc{0x8000, 16, kDescFlagNext, 0});
    d.publish(0);
  });
  return 0;
}
