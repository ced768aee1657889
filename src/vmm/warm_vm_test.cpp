// WarmVm (the warm pool's pre-created VM, warm_vm.h) with the fake
// hypervisor: a resume of its shape creates nothing again and maps the
// image's RAM where the memory slots already point; any other shape gets a
// new VM and says why; the handed-out VM refuses anything not prepared.
#include "vmm/warm_vm.h"

#include "vmm/machine_test_support.h"

namespace amber::vmm {
namespace {

using namespace testing;

TEST(WarmVm, AResumeOfItsShapeRunsInItWithTheImageMappedOverTheReservedRange) {
  TempImage img;
  write_rng_image(img.path);
  auto image = image::Image::open(img.path);
  hv::FakeHypervisor hv;
  WarmVm warm(hv, {1, kMem});
  ASSERT_EQ(hv.vms().size(), 1u);
  hv::FakeVm* vm = hv.vms()[0];
  auto addrs = warm.ram_addresses();
  ASSERT_EQ(addrs.size(), 1u);
  ASSERT_EQ(vm->slots().size(), 1u);
  EXPECT_EQ(vm->slots()[0].host, addrs[0]);
  EXPECT_EQ(vm->slots()[0].size, kMem);
  ASSERT_EQ(vm->vcpus().size(), 1u);

  std::string cold = "unset";
  ResumeOptions ro;
  ro.warm = &warm;
  ro.cold = &cold;
  auto m = resume_machine(hv, image, ro, nullptr);
  EXPECT_EQ(cold, "unset") << "the warm VM was not used";
  EXPECT_EQ(hv.vms().size(), 1u) << "a second VM was created";
  EXPECT_EQ(vm->slots().size(), 1u) << "a memory slot was registered again";
  ASSERT_EQ(m->memory().regions().size(), 1u);
  EXPECT_EQ(m->memory().regions()[0].host, addrs[0]) << "RAM is not where the slot points";
  EXPECT_EQ(marker(m->memory()), "IMAGE");
  // The prepared vCPU runs the clone, and the device's ioeventfd was
  // registered on the prepared VM: the guest's request is served.
  vcpu_of(hv).push(request_and_wait(m->memory(), rng_eventfd(hv)));
  auto r = m->run({});
  EXPECT_EQ(r.reason, StopReason::kGuestReset) << r.message;
  EXPECT_EQ(used_idx(m->memory()), 1);
}

TEST(WarmVm, AnotherShapeGetsANewVmAndTheReason) {
  TempImage img;
  write_rng_image(img.path);
  auto image = image::Image::open(img.path);
  hv::FakeHypervisor hv;
  WarmVm warm(hv, {2, kMem});
  std::string cold;
  ResumeOptions ro;
  ro.warm = &warm;
  ro.cold = &cold;
  auto m = resume_machine(hv, image, ro, nullptr);
  EXPECT_EQ(cold, "the image has 1 vCPU, the warm VM 2");
  EXPECT_EQ(hv.vms().size(), 2u);
  EXPECT_EQ(marker(m->memory()), "IMAGE");

  WarmVm bigger(hv, {1, 2 * kMem});
  EXPECT_EQ(bigger.mismatch(1, {{0, kMem}}), "the image has 16 MiB of RAM, the warm VM 32 MiB");
  EXPECT_EQ(bigger.mismatch(1, {{0, 2 * kMem}}), "");
}

TEST(WarmVm, TheHandedOutVmRefusesWhatWasNotPrepared) {
  hv::FakeHypervisor fake;
  WarmVm warm(fake, {2, kMem});
  void* at = warm.ram_addresses()[0];
  hv::Hypervisor& hv = warm.take();
  EXPECT_EQ(warm.mismatch(2, {{0, kMem}}), "the warm VM was already used");
  EXPECT_THROW(warm.take(), Error);
  auto vm = hv.create_vm();
  EXPECT_THROW(hv.create_vm(), Error);
  EXPECT_NO_THROW(vm->add_memory({0, 0, kMem, at}));
  Mapping elsewhere = Mapping::anonymous(kMem);
  EXPECT_THROW(vm->add_memory({0, 0, kMem, elsewhere.data()}), Error);
  EXPECT_THROW(vm->add_memory({1, 0x100000000ull, kMem, at}), Error);
  EXPECT_THROW(vm->create_vcpu(0, 1), Error) << "two were prepared";
  auto v0 = vm->create_vcpu(0, 2);
  ASSERT_TRUE(v0);
  EXPECT_THROW(vm->create_vcpu(0, 2), Error) << "handed out twice";
  EXPECT_TRUE(vm->create_vcpu(1, 2));
  EXPECT_THROW(WarmVm(fake, {0, kMem}), Error);
  EXPECT_THROW(WarmVm(fake, {1, 12345}), Error);
}

}  // namespace
}  // namespace amber::vmm
