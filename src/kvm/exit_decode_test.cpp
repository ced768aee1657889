#include "kvm/exit_decode.h"

#include <gtest/gtest.h>

#include <vector>

namespace amber::kvm {
namespace {

// A fake kvm_run mapping: struct kvm_run followed by the PIO data page.
struct FakeRun {
  static constexpr size_t kSize = 2 * 4096;
  std::vector<uint64_t> words = std::vector<uint64_t>(kSize / 8, 0);
  kvm_run& run() { return *reinterpret_cast<kvm_run*>(words.data()); }
  uint8_t* base() { return reinterpret_cast<uint8_t*>(words.data()); }
};

TEST(ExitDecode, IoOutPointsIntoDataPage) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_IO;
  f.run().io = {KVM_EXIT_IO_OUT, 2, 0x3f8, 3, 4096};
  f.base()[4096] = 0xab;
  auto ex = decode_exit(f.run(), FakeRun::kSize);
  auto* out = std::get_if<hv::IoOut>(&ex);
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->port, 0x3f8);
  EXPECT_EQ(out->size, 2);
  EXPECT_EQ(out->count, 3u);
  EXPECT_EQ(out->data.size(), 6u);
  EXPECT_EQ(out->data.data(), f.base() + 4096);
  EXPECT_EQ(out->data[0], 0xab);
  EXPECT_TRUE(exit_needs_completion(f.run()));
}

TEST(ExitDecode, IoInIsWritable) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_IO;
  f.run().io = {KVM_EXIT_IO_IN, 1, 0x60, 1, 4096};
  auto ex = decode_exit(f.run(), FakeRun::kSize);
  auto* in = std::get_if<hv::IoIn>(&ex);
  ASSERT_NE(in, nullptr);
  in->data[0] = 0x5a;
  EXPECT_EQ(f.base()[4096], 0x5a);
}

TEST(ExitDecode, IoOutOfMappingIsInternalError) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_IO;
  f.run().io = {KVM_EXIT_IO_OUT, 4, 0x10, 1025, 4096};  // 4100 bytes from 4096: 4 past the end
  EXPECT_TRUE(std::holds_alternative<hv::InternalError>(decode_exit(f.run(), FakeRun::kSize)));
  f.run().io = {KVM_EXIT_IO_OUT, 4, 0x10, 1024, 4096};  // exactly to the end: fine
  EXPECT_TRUE(std::holds_alternative<hv::IoOut>(decode_exit(f.run(), FakeRun::kSize)));
  f.run().io = {KVM_EXIT_IO_OUT, 1, 0x10, 1, 0xffffffffffffff00ull};  // offset overflow
  EXPECT_TRUE(std::holds_alternative<hv::InternalError>(decode_exit(f.run(), FakeRun::kSize)));
  f.run().io = {KVM_EXIT_IO_OUT, 3, 0x10, 1, 4096};  // bad size
  EXPECT_TRUE(std::holds_alternative<hv::InternalError>(decode_exit(f.run(), FakeRun::kSize)));
  f.run().io = {KVM_EXIT_IO_OUT, 0xff, 0x10, 0xffffffff, 4096};
  EXPECT_TRUE(std::holds_alternative<hv::InternalError>(decode_exit(f.run(), FakeRun::kSize)));
}

TEST(ExitDecode, Mmio) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_MMIO;
  f.run().mmio.phys_addr = 0xd0000000;
  f.run().mmio.len = 4;
  f.run().mmio.is_write = 1;
  f.run().mmio.data[0] = 7;
  auto ex = decode_exit(f.run(), FakeRun::kSize);
  auto* w = std::get_if<hv::MmioWrite>(&ex);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->addr, 0xd0000000u);
  EXPECT_EQ(w->data.size(), 4u);
  EXPECT_EQ(w->data[0], 7);

  f.run().mmio.is_write = 0;
  f.run().mmio.len = 8;
  ex = decode_exit(f.run(), FakeRun::kSize);
  auto* r = std::get_if<hv::MmioRead>(&ex);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->data.data(), f.run().mmio.data);
  EXPECT_EQ(r->data.size(), 8u);

  f.run().mmio.len = 9;
  EXPECT_TRUE(std::holds_alternative<hv::InternalError>(decode_exit(f.run(), FakeRun::kSize)));
  f.run().mmio.len = 0;
  EXPECT_TRUE(std::holds_alternative<hv::InternalError>(decode_exit(f.run(), FakeRun::kSize)));
}

TEST(ExitDecode, SimpleExits) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_HLT;
  EXPECT_TRUE(std::holds_alternative<hv::Halt>(decode_exit(f.run(), FakeRun::kSize)));
  EXPECT_FALSE(exit_needs_completion(f.run()));
  f.run().exit_reason = KVM_EXIT_SHUTDOWN;
  EXPECT_TRUE(std::holds_alternative<hv::Shutdown>(decode_exit(f.run(), FakeRun::kSize)));
  f.run().exit_reason = KVM_EXIT_INTR;
  EXPECT_TRUE(std::holds_alternative<hv::Interrupted>(decode_exit(f.run(), FakeRun::kSize)));
  f.run().exit_reason = KVM_EXIT_SYSTEM_EVENT;
  f.run().system_event.type = KVM_SYSTEM_EVENT_RESET;
  EXPECT_TRUE(std::holds_alternative<hv::SystemReset>(decode_exit(f.run(), FakeRun::kSize)));
  f.run().system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
  EXPECT_TRUE(std::holds_alternative<hv::SystemReset>(decode_exit(f.run(), FakeRun::kSize)));
  f.run().system_event.type = KVM_SYSTEM_EVENT_CRASH;
  EXPECT_TRUE(std::holds_alternative<hv::InternalError>(decode_exit(f.run(), FakeRun::kSize)));
}

TEST(ExitDecode, FailuresCarryDetails) {
  FakeRun f;
  f.run().exit_reason = KVM_EXIT_FAIL_ENTRY;
  f.run().fail_entry.hardware_entry_failure_reason = 0x21;
  auto ex = decode_exit(f.run(), FakeRun::kSize);
  ASSERT_TRUE(std::holds_alternative<hv::InternalError>(ex));
  EXPECT_NE(std::get<hv::InternalError>(ex).what.find("0x21"), std::string::npos);

  f.run().exit_reason = KVM_EXIT_INTERNAL_ERROR;
  f.run().internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
  f.run().internal.ndata = 1000;  // hostile count: capped at the array size
  ex = decode_exit(f.run(), FakeRun::kSize);
  EXPECT_NE(std::get<hv::InternalError>(ex).what.find("suberror 1"), std::string::npos);

  f.run().exit_reason = 12345;
  ex = decode_exit(f.run(), FakeRun::kSize);
  EXPECT_NE(std::get<hv::InternalError>(ex).what.find("12345"), std::string::npos);
}

}  // namespace
}  // namespace amber::kvm
