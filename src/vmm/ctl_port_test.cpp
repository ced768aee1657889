#include "vmm/ctl_port.h"

#include <gtest/gtest.h>

namespace amber::vmm {
namespace {

TEST(CtlPort, ReadsMagicLittleEndian) {
  CtlPort p(nullptr);
  uint8_t d[4];
  p.read(0, d);
  uint32_t v;
  std::memcpy(&v, d, 4);
  EXPECT_EQ(v, CtlPort::kMagic);
  uint8_t one;
  p.read(2, std::span(&one, 1));
  EXPECT_EQ(one, uint8_t(CtlPort::kMagic >> 16));
}

TEST(CtlPort, OnlyA32BitSaveWordRings) {
  int rings = 0;
  CtlPort p([&] { ++rings; });
  uint32_t save = CtlPort::kSaveRequest, other = 0x12345678;
  p.write(0, std::span(reinterpret_cast<const uint8_t*>(&other), 4));
  p.write(0, std::span(reinterpret_cast<const uint8_t*>(&save), 2));  // 16-bit: half a word
  p.write(1, std::span(reinterpret_cast<const uint8_t*>(&save), 1));
  EXPECT_EQ(rings, 0);
  p.write(0, std::span(reinterpret_cast<const uint8_t*>(&save), 4));
  EXPECT_EQ(rings, 1);
}

TEST(CtlPort, ACallbackThatThrowsDoesNotEscape) {
  CtlPort p([] { throw std::runtime_error("queue full"); });
  uint32_t save = CtlPort::kSaveRequest;
  EXPECT_NO_THROW(p.write(0, std::span(reinterpret_cast<const uint8_t*>(&save), 4)));
}

}  // namespace
}  // namespace amber::vmm
