// virtio-rng on real KVM with the `rng` bare-metal guest
// (guest-tests/bare/rng.S): the guest reads 16 random bytes, asks for a
// save through port 0x5a0, then reads 16 more wherever it continues. Clones
// resumed from that one image must each get their own bytes: the device's
// output comes from the host at request time, never from the image.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdlib>

#include "vmm/bare_vm_harness.h"

namespace amber::vmm {
namespace {

using testing::BareVm;

// One request as the guest reports it: the used length, then the bytes.
struct Draw {
  uint32_t len = 0;
  std::array<uint32_t, 4> words{};
  bool operator==(const Draw&) const = default;
};

std::vector<Draw> draws(const std::vector<uint32_t>& v) {
  std::vector<Draw> out;
  for (size_t i = 0; i + 5 <= v.size(); i += 5) out.push_back({v[i], {v[i + 1], v[i + 2], v[i + 3], v[i + 4]}});
  EXPECT_EQ(v.size() % 5, 0u) << "a partial request record";
  return out;
}

struct TempImage {
  std::string path;
  TempImage() {
    char p[] = "/tmp/amber-rng-test-XXXXXX";
    int fd = mkstemp(p);
    if (fd >= 0) close(fd);
    path = p;
  }
  ~TempImage() { unlink(path.c_str()); }
};

TEST(Entropy, ClonesOfOneImageDrawDifferentBytes) {
  TempImage img;
  std::vector<Draw> at_boot;
  {
    BareVm vm;
    vm.boot("rng", 128ull << 20, /*rng=*/true);
    RunOptions o;
    o.save_path = img.path;
    auto r = vm.m->run(o);
    ASSERT_EQ(r.reason, StopReason::kSaved) << r.message << "\n" << vm.out;
    at_boot = draws(vm.port.values);
    ASSERT_EQ(at_boot.size(), 1u) << vm.out;
    EXPECT_EQ(at_boot[0].len, 16u);
    EXPECT_NE(at_boot[0].words, (std::array<uint32_t, 4>{})) << "the device wrote nothing";
  }

  auto image = image::Image::open(img.path);
  std::vector<Draw> clone_draws;
  for (int i = 0; i < 3; ++i) {
    BareVm clone;
    clone.resume(image);
    auto r = clone.m->run({});
    ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message << "\n" << clone.out;
    EXPECT_NE(clone.out.find("rng done"), std::string::npos) << clone.out;
    auto d = draws(clone.port.values);
    ASSERT_EQ(d.size(), 1u) << "clone " << i << " made no request after the save:\n" << clone.out;
    EXPECT_EQ(d[0].len, 16u);
    clone_draws.push_back(d[0]);
  }
  // 128 random bits each: any equality means the bytes came from the image.
  for (size_t i = 0; i < clone_draws.size(); ++i) {
    EXPECT_NE(clone_draws[i], at_boot[0]) << "clone " << i << " repeated the boot draw";
    for (size_t j = 0; j < i; ++j) EXPECT_NE(clone_draws[i], clone_draws[j]) << "clones " << j << " and " << i;
  }
}

TEST(Entropy, WithoutTheDeviceTheGuestFindsNone) {
  BareVm vm;
  vm.boot("rng", 128ull << 20, /*rng=*/false);
  auto r = vm.m->run({});
  ASSERT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  EXPECT_NE(vm.out.find("rng: no device"), std::string::npos) << vm.out;
  EXPECT_TRUE(vm.port.values.empty());
}

}  // namespace
}  // namespace amber::vmm
