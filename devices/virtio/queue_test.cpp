#include "virtio/queue.h"

#include <gtest/gtest.h>

#include "amber/state.h"
#include "virtio/testing/fake_driver.h"

namespace amber::virtio {
namespace {

using testing::FakeDriver;
using testing::TestMemory;

class QueueTest : public ::testing::Test {
 protected:
  QueueTest() : driver(ram.mem(), 16), q(16) {
    q.set_state(driver.queue_state());
    q.set_features(/*event_idx=*/false, /*indirect=*/true);
  }
  PopStatus pop() { return q.pop(ram.mem(), chain); }

  TestMemory ram;
  FakeDriver driver;
  Queue q;
  Chain chain;
};

TEST_F(QueueTest, EmptyRingPopsNothing) {
  EXPECT_EQ(pop(), PopStatus::kEmpty);
  EXPECT_FALSE(q.broken());
}

TEST_F(QueueTest, ChainBuffersInOrder) {
  auto c = driver.chain().readable(16).writable(512).writable(1);
  uint16_t head = c.publish();
  ASSERT_EQ(pop(), PopStatus::kChain);
  EXPECT_EQ(chain.head, head);
  ASSERT_EQ(chain.buffers.size(), 3u);
  EXPECT_EQ(chain.buffers[0].addr, c.addr(0));
  EXPECT_EQ(chain.buffers[0].len, 16u);
  EXPECT_FALSE(chain.buffers[0].writable);
  EXPECT_EQ(chain.buffers[1].len, 512u);
  EXPECT_TRUE(chain.buffers[1].writable);
  EXPECT_TRUE(chain.buffers[2].writable);
  EXPECT_EQ(pop(), PopStatus::kEmpty);
}

TEST_F(QueueTest, UsedRingGetsHeadAndLength) {
  uint16_t head = driver.chain().writable(8).publish();
  ASSERT_EQ(pop(), PopStatus::kChain);
  ASSERT_TRUE(q.add_used(ram.mem(), head, 5));
  auto u = driver.next_used();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->id, head);
  EXPECT_EQ(u->len, 5u);
  EXPECT_EQ(driver.used_idx(), 1);
}

TEST_F(QueueTest, IndirectTableIsFollowed) {
  driver.chain().readable(16).indirect().writable(4096).writable(4096).writable(1).publish();
  ASSERT_EQ(pop(), PopStatus::kChain);
  ASSERT_EQ(chain.buffers.size(), 4u);
  EXPECT_EQ(chain.buffers[3].len, 1u);
  EXPECT_TRUE(chain.buffers[3].writable);
}

TEST_F(QueueTest, IndirectWithoutFeatureBreaksQueue) {
  q.set_features(false, false);
  driver.chain().indirect().writable(1).publish();
  EXPECT_EQ(pop(), PopStatus::kBroken);
  EXPECT_TRUE(q.broken());
  EXPECT_EQ(pop(), PopStatus::kBroken);  // stays broken
}

TEST_F(QueueTest, LoopIsRejected) {
  driver.write_desc(0, RawDesc{0x80000, 16, kDescFlagNext, 1});
  driver.write_desc(1, RawDesc{0x80000, 16, kDescFlagNext, 0});
  driver.publish(0);
  EXPECT_EQ(pop(), PopStatus::kBroken);
  EXPECT_NE(q.error().find("loops"), std::string_view::npos);
}

TEST_F(QueueTest, ChainAsLongAsTheQueueIsAccepted) {
  for (uint16_t i = 0; i < 16; ++i)
    driver.write_desc(i, RawDesc{0x80000, 1, uint16_t(i < 15 ? kDescFlagNext : 0), uint16_t(i + 1)});
  driver.publish(0);
  ASSERT_EQ(pop(), PopStatus::kChain);
  EXPECT_EQ(chain.buffers.size(), 16u);
}

TEST_F(QueueTest, NextOutOfRangeIsRejected) {
  driver.write_desc(0, RawDesc{0x80000, 1, kDescFlagNext, 16});
  driver.publish(0);
  EXPECT_EQ(pop(), PopStatus::kBroken);
}

TEST_F(QueueTest, HeadOutOfRangeIsRejected) {
  driver.publish(200);
  EXPECT_EQ(pop(), PopStatus::kBroken);
}

TEST_F(QueueTest, ReadableAfterWritableIsRejected) {
  driver.chain().writable(4).readable(4).publish();
  EXPECT_EQ(pop(), PopStatus::kBroken);
  EXPECT_NE(q.error().find("readable"), std::string_view::npos);
}

TEST_F(QueueTest, NestedIndirectIsRejected) {
  uint64_t inner = driver.alloc(16);
  driver.write_desc_at(inner, 0, RawDesc{0x80000, 1, kDescFlagWrite, 0});
  uint64_t outer = driver.alloc(16);
  driver.write_desc_at(outer, 0, RawDesc{inner, 16, kDescFlagIndirect, 0});
  driver.write_desc(0, RawDesc{outer, 16, kDescFlagIndirect, 0});
  driver.publish(0);
  EXPECT_EQ(pop(), PopStatus::kBroken);
  EXPECT_NE(q.error().find("inside an indirect"), std::string_view::npos);
}

TEST_F(QueueTest, BadIndirectLengthsAreRejected) {
  for (uint32_t len : {0u, 15u, 17u, uint32_t(16 * (Queue::kMaxIndirect + 1))}) {
    Queue fresh(16);
    fresh.set_state(driver.queue_state());
    fresh.set_features(false, true);
    driver.write_desc(0, RawDesc{0x2000, len, kDescFlagIndirect, 0});
    driver.set_avail_idx(0);
    driver.publish(0);
    EXPECT_EQ(fresh.pop(ram.mem(), chain), PopStatus::kBroken) << len;
  }
}

TEST_F(QueueTest, IndirectWithNextIsRejected) {
  uint64_t t = driver.alloc(16);
  driver.write_desc_at(t, 0, RawDesc{0x80000, 1, kDescFlagWrite, 0});
  driver.write_desc(0, RawDesc{t, 16, kDescFlagIndirect | kDescFlagNext, 1});
  driver.publish(0);
  EXPECT_EQ(pop(), PopStatus::kBroken);
}

TEST_F(QueueTest, LoopInsideIndirectTableIsRejected) {
  uint64_t t = driver.alloc(32);
  driver.write_desc_at(t, 0, RawDesc{0x80000, 1, kDescFlagNext, 1});
  driver.write_desc_at(t, 1, RawDesc{0x80000, 1, kDescFlagNext, 0});
  driver.write_desc(0, RawDesc{t, 32, kDescFlagIndirect, 0});
  driver.publish(0);
  EXPECT_EQ(pop(), PopStatus::kBroken);
}

TEST_F(QueueTest, IndirectTableOutsideRamIsRejected) {
  driver.write_desc(0, RawDesc{(1ull << 20) - 16, 32, kDescFlagIndirect, 0});
  driver.publish(0);
  EXPECT_EQ(pop(), PopStatus::kBroken);
}

TEST_F(QueueTest, BufferAddressesAreNotTrustedButPassedThrough) {
  // The walker leaves buffer bounds to the device (it may answer IOERR);
  // huge lengths and far addresses must not crash it.
  driver.chain().at(~0ull - 4, 0xffffffff, false).at(1ull << 40, 1, true).publish();
  ASSERT_EQ(pop(), PopStatus::kChain);
  EXPECT_EQ(chain.buffers[0].len, 0xffffffffu);
}

TEST_F(QueueTest, AvailIndexJumpBreaksQueue) {
  driver.set_avail_idx(17);
  EXPECT_EQ(pop(), PopStatus::kBroken);
  EXPECT_NE(q.error().find("more than the queue size"), std::string_view::npos);
}

TEST_F(QueueTest, AvailIndexWrapsAround) {
  QueueState s = driver.queue_state();
  s.last_avail = 0xffff;
  s.next_used = 0xffff;
  q.set_state(s);
  driver.set_avail_idx(0xffff);
  uint16_t head = driver.chain().writable(1).publish();  // avail idx wraps to 0
  ASSERT_EQ(pop(), PopStatus::kChain);
  EXPECT_EQ(chain.head, head);
  EXPECT_EQ(q.state().last_avail, 0);
  ASSERT_TRUE(q.add_used(ram.mem(), head, 1));
  EXPECT_EQ(driver.used_idx(), 0);
}

TEST_F(QueueTest, NoInterruptFlagSuppressesWithoutEventIdx) {
  uint16_t head = driver.chain().writable(1).publish();
  ASSERT_EQ(pop(), PopStatus::kChain);
  q.add_used(ram.mem(), head, 1);
  EXPECT_TRUE(q.needs_interrupt(ram.mem()));
  driver.set_avail_flags(kAvailFlagNoInterrupt);
  EXPECT_FALSE(q.needs_interrupt(ram.mem()));
}

TEST_F(QueueTest, EventIdxFollowsUsedEvent) {
  q.set_features(/*event_idx=*/true, true);
  driver.set_avail_flags(kAvailFlagNoInterrupt);  // ignored with EVENT_IDX (§2.7.10)
  auto serve_one = [&] {
    uint16_t head = driver.chain().writable(1).publish();
    EXPECT_EQ(pop(), PopStatus::kChain);
    q.add_used(ram.mem(), head, 1);
    return q.needs_interrupt(ram.mem());
  };
  EXPECT_TRUE(serve_one());      // first completion always signals (used idx 1)
  driver.set_used_event(5);      // "interrupt me when used idx passes 5"
  EXPECT_FALSE(serve_one());     // 2
  EXPECT_FALSE(serve_one());     // 3
  EXPECT_FALSE(serve_one());     // 4
  EXPECT_FALSE(serve_one());     // 5
  EXPECT_TRUE(serve_one());      // 6: crossed used_event + 1
  EXPECT_FALSE(serve_one());     // 7: event 5 already passed
  driver.set_used_event(7);
  EXPECT_TRUE(serve_one());      // 8
}

TEST_F(QueueTest, EventIdxPublishesAvailEventWhenIdle) {
  q.set_features(true, true);
  driver.chain().writable(1).publish();
  driver.chain().writable(1).publish();
  ASSERT_EQ(pop(), PopStatus::kChain);
  ASSERT_EQ(pop(), PopStatus::kChain);
  EXPECT_EQ(pop(), PopStatus::kEmpty);
  EXPECT_EQ(driver.avail_event(), 2);
}

TEST_F(QueueTest, CheckLayoutRejectsBadConfigurations) {
  QueueState s = driver.queue_state();
  EXPECT_EQ(Queue::check_layout(s, 16, ram.mem()), "");
  auto bad = [&](auto mutate) {
    QueueState t = s;
    mutate(t);
    return !Queue::check_layout(t, 16, ram.mem()).empty();
  };
  EXPECT_TRUE(bad([](QueueState& t) { t.size = 0; }));
  EXPECT_TRUE(bad([](QueueState& t) { t.size = 12; }));
  EXPECT_TRUE(bad([](QueueState& t) { t.size = 32; }));
  EXPECT_TRUE(bad([](QueueState& t) { t.desc += 8; }));
  EXPECT_TRUE(bad([](QueueState& t) { t.device += 2; }));
  EXPECT_TRUE(bad([](QueueState& t) { t.desc = (1 << 20) - 16; }));
  EXPECT_TRUE(bad([](QueueState& t) { t.driver = ~0ull - 1; }));
}

TEST_F(QueueTest, ResetClearsState) {
  driver.set_avail_idx(40);
  pop();
  ASSERT_TRUE(q.broken());
  q.reset();
  EXPECT_FALSE(q.broken());
  EXPECT_EQ(q.state(), QueueState{});
}

TEST(QueueState, SaveRestoreRoundTrip) {
  QueueState s;
  s.size = 8;
  s.ready = true;
  s.desc = 0x1000;
  s.last_avail = 7;
  StateNode n = save_state(s);
  EXPECT_EQ(load_state<QueueState>(n), s);
  QueueState t = s;
  t.next_used = 3;
  EXPECT_NE(save_state(t), n);
}

}  // namespace
}  // namespace amber::virtio
