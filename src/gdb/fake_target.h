#pragma once
// An in-memory gdb::Target for session tests and the fuzzer: flat guest
// RAM from 0, a register file per vCPU, and a record of stops and resumes.
#include <cstring>
#include <optional>
#include <vector>

#include "gdb/session.h"

namespace amber::gdb {

struct FakeTarget final : Target {
  explicit FakeTarget(uint32_t vcpus = 2, size_t ram = 1 << 20) : regs(vcpus), ram(ram) {}

  uint32_t vcpu_count() override { return uint32_t(regs.size()); }
  void stop() override {
    ++stops;
    running = false;
  }
  void resume(std::span<const hv::GuestDebug> d, std::optional<uint32_t> o) override {
    debug.assign(d.begin(), d.end());
    only = o;
    ++resumes;
    running = true;
  }
  hv::DebugRegs read_registers(uint32_t v) override { return regs.at(v); }
  void write_registers(uint32_t v, const hv::DebugRegs& r) override { regs.at(v) = r; }
  bool read_physical(uint64_t gpa, std::span<uint8_t> out) override {
    if (gpa > ram.size() || out.size() > ram.size() - gpa) return false;
    std::memcpy(out.data(), ram.data() + gpa, out.size());
    return true;
  }
  bool write_physical(uint64_t gpa, std::span<const uint8_t> in) override {
    if (gpa > ram.size() || in.size() > ram.size() - gpa) return false;
    std::memcpy(ram.data() + gpa, in.data(), in.size());
    return true;
  }
  void kill() override { killed = true; }

  std::vector<hv::DebugRegs> regs;
  std::vector<uint8_t> ram;
  std::vector<hv::GuestDebug> debug;
  std::optional<uint32_t> only;
  int stops = 0, resumes = 0;
  bool running = false, killed = false;
};

}  // namespace amber::gdb
