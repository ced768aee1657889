// libFuzzer target: a virtio-blk device behind the MMIO transport, driven by
// a guest RAM image, a queue layout and register writes taken from the input
// (format in blk_fuzz_input.h). Finds crashes, hangs, sanitizer reports and
// snapshots that do not restore.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "amber/log.h"
#include "virtio/blk.h"
#include "virtio/fuzz/blk_fuzz_input.h"
#include "virtio/mmio_transport.h"
#include "virtio/testing/mem_disk.h"
#include "virtio/testing/mmio_driver.h"

using namespace amber;
using namespace amber::virtio;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  log::level() = log::Level::kError;  // guest warnings are expected here
  fuzz::FuzzHeader h{};
  if (size < sizeof h) return 0;
  std::memcpy(&h, data, sizeof h);
  data += sizeof h;
  size -= sizeof h;

  testing::TestMemory ram(fuzz::kRamSize);
  auto disk = std::make_unique<block::testing::MemDisk>(fuzz::kDiskSize, h.flags & fuzz::kFlagReadOnly, "fuzz");
  testing::RecordingIrq irq;
  MmioTransport t("blk", ram.mem(), irq, std::make_unique<Blk>(std::move(disk)));
  testing::MmioDriver regs(t);

  uint64_t features = kFeatureVersion1 | kBlkFeatureFlush | kBlkFeatureDiscard | kBlkFeatureWriteZeroes;
  if (h.flags & fuzz::kFlagEventIdx) features |= kFeatureEventIdx;
  if (h.flags & fuzz::kFlagIndirect) features |= kFeatureIndirectDesc;
  if (h.flags & fuzz::kFlagReadOnly) features = (features & ~(kBlkFeatureDiscard | kBlkFeatureWriteZeroes)) | kBlkFeatureRo;
  regs.negotiate(features);
  regs.write32(mmio::kQueueSel, 0);
  regs.write32(mmio::kQueueNum, 1u << (h.queue_log2 % 9));
  regs.write64(mmio::kQueueDescLow, h.desc % fuzz::kRamSize);
  regs.write64(mmio::kQueueDriverLow, h.avail % fuzz::kRamSize);
  regs.write64(mmio::kQueueDeviceLow, h.used % fuzz::kRamSize);
  regs.write32(mmio::kQueueReady, 1);
  regs.driver_ok();

  size_t ops = h.reg_ops % 8;
  for (size_t i = 0; i < ops && size >= sizeof(fuzz::RegOp); ++i) {
    fuzz::RegOp op;
    std::memcpy(&op, data, sizeof op);
    data += sizeof op;
    size -= sizeof op;
    regs.write32(op.offset % 0x200 & ~3u, op.value);
  }
  std::memcpy(ram.bytes().data(), data, std::min<size_t>(size, fuzz::kRamSize));

  for (int i = 0; i < 1 + h.notifies % 4; ++i) t.notify(0);

  // Whatever the guest did, the device's own snapshot must restore.
  StateNode saved = t.save();
  try {
    t.restore(saved);
  } catch (const Error& e) {
    std::fprintf(stderr, "restore of a saved state failed: %s\n", e.what());
    std::abort();
  }
  t.notify(0);
  return 0;
}
