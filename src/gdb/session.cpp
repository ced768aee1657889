#include "gdb/session.h"

#include <algorithm>

#include <fmt/core.h>

#include "amber/error.h"
#include "gdb/page_walk.h"
#include "gdb/registers.h"

namespace amber::gdb {
namespace {

constexpr int kSigInt = 2, kSigTrap = 5;
// The most bytes one 'm' answers: two hex digits each must fit a packet.
constexpr size_t kMaxMemoryChunk = (kMaxPacket - 16) / 2;

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// "ADDR,LEN" (both hex), as in m, M, Z and z.
bool parse_addr_len(std::string_view s, uint64_t& addr, uint64_t& len) {
  auto comma = s.find(',');
  if (comma == std::string_view::npos) return false;
  auto a = parse_hex(s.substr(0, comma)), l = parse_hex(s.substr(comma + 1));
  if (!a || !l) return false;
  addr = *a, len = *l;
  return true;
}

}  // namespace

Session::Session(Target& target, SoftwareBreakpoints& sw, bool emulate_breakpoints)
    : target_(target), sw_(sw), emulate_(emulate_breakpoints) {}

void Session::attach() {
  uint32_t n = target_.vcpu_count();
  regs_.assign(n, std::nullopt);
  inject_bp_.assign(n, false);
  running_ = false;
  g_thread_ = c_thread_ = 0;
  last_stop_ = stop_reply(0, {});
}

std::string Session::reply(std::string_view payload) {
  last_reply_ = frame(payload);
  return last_reply_;
}

std::string Session::receive(std::span<const uint8_t> bytes) {
  std::string out;
  for (uint8_t b : bytes) {
    if (finished_) break;
    auto ev = reader_.feed(b);
    if (!ev) continue;
    switch (ev->kind) {
      case RspEvent::kAck: break;
      case RspEvent::kNack:
        if (!no_ack_) out += last_reply_;  // our last reply arrived garbled: again
        break;
      case RspEvent::kBadChecksum:
      case RspEvent::kTooLong:
        if (!no_ack_) out += '-';  // gdb sends it again (a too-long one it cannot shorten: gdb gives up)
        break;
      case RspEvent::kInterrupt:
        if (running_) {
          try {
            target_.stop();
            running_ = false;
            stepping_all_ = false;
            regs_.assign(regs_.size(), std::nullopt);
            last_stop_ = stop_reply(c_thread_, {}, kSigInt);
            out += reply(last_stop_);
          } catch (const std::exception&) {
            out += reply("X09");  // the VM is gone
            finished_ = true;
          }
        }
        break;
      case RspEvent::kPacket: {
        if (!no_ack_) out += '+';
        std::string r;
        try {
          r = handle(ev->payload);
        } catch (const std::exception&) {
          r = "E01";  // the VM ended under us, or a vCPU call failed
        }
        if (r != "\x01")  // no answer (c, s, k): the stop reply comes later
          out += reply(r);
        break;
      }
    }
  }
  return out;
}

std::string Session::handle(std::string_view p) {
  if (running_) return "E01";  // all-stop: only Ctrl-C while the guest runs
  if (p.empty()) return "";
  switch (p[0]) {
    case '?': return last_stop_;
    case 'g': return encode_registers(regs(g_thread_));
    case 'G': {
      hv::DebugRegs r = regs(g_thread_);
      if (!decode_registers(r, p.substr(1))) return "E22";
      target_.write_registers(g_thread_, r);
      regs_[g_thread_] = r;
      return "OK";
    }
    case 'p': {
      auto n = parse_hex(p.substr(1));
      if (!n || *n >= uint64_t(kNumRegs)) return "E22";
      return to_hex(reg_bytes(regs(g_thread_), int(*n)));
    }
    case 'P': {
      auto eq = p.find('=');
      if (eq == std::string_view::npos) return "E22";
      auto n = parse_hex(p.substr(1, eq - 1));
      auto bytes = from_hex(p.substr(eq + 1));
      hv::DebugRegs r = regs(g_thread_);
      if (!n || *n >= uint64_t(kNumRegs) || !bytes || !set_reg_bytes(r, int(*n), *bytes)) return "E22";
      target_.write_registers(g_thread_, r);
      regs_[g_thread_] = r;
      return "OK";
    }
    case 'm': return read_memory(p.substr(1));
    case 'M': return write_memory(p.substr(1));
    case 'Z': return breakpoint(true, p.substr(1));
    case 'z': return breakpoint(false, p.substr(1));
    case 'H': return set_thread(p.substr(1));
    case 'T': return parse_thread(p.substr(1)) ? "OK" : "E22";
    case 'c':
    case 's':
    case 'C':
    case 'S': {
      // [sig;]addr: resume at addr when given.
      std::string_view rest = p.substr(1);
      if (p[0] == 'C' || p[0] == 'S') {
        auto semi = rest.find(';');
        rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      }
      if (!rest.empty()) {
        auto addr = parse_hex(rest);
        if (!addr) return "E22";
        hv::DebugRegs r = regs(c_thread_);
        r.rip = *addr;
        target_.write_registers(c_thread_, r);
      }
      bool step = p[0] == 's' || p[0] == 'S';
      return resume(step ? std::optional<uint32_t>(c_thread_) : std::nullopt);
    }
    case 'D':
      detach();
      finished_ = true;
      return "OK";
    case 'k':
      target_.kill();
      finished_ = true;
      return "\x01";
    case 'q':
    case 'Q': return query(p);
    case 'v':
      if (p == "vCont?") return "vCont;c;C;s;S";
      if (starts_with(p, "vCont;")) return vcont(p.substr(6));
      if (starts_with(p, "vKill")) {
        target_.kill();
        finished_ = true;
        return "OK";
      }
      return "";  // vMustReplyEmpty and the rest: unsupported
    default: return "";  // unsupported: gdb falls back (X -> M, ...)
  }
}

std::string Session::query(std::string_view p) {
  if (starts_with(p, "qSupported"))
    return fmt::format("PacketSize={:x};qXfer:features:read+;swbreak+;hwbreak+;QStartNoAckMode+;vContSupported+",
                       kMaxPacket);
  if (p == "QStartNoAckMode") {
    no_ack_ = true;  // from the next packet on; gdb still acks this OK
    return "OK";
  }
  if (starts_with(p, "qXfer:features:read:")) {
    std::string_view rest = p.substr(20);
    auto colon = rest.find(':');
    if (colon == std::string_view::npos) return "E22";
    if (rest.substr(0, colon) != "target.xml") return "E00";
    uint64_t off = 0, len = 0;
    if (!parse_addr_len(rest.substr(colon + 1), off, len)) return "E22";
    const std::string& xml = target_xml();
    if (off >= xml.size()) return "l";
    len = std::min<uint64_t>(len, kMaxPacket - 16);
    std::string chunk = xml.substr(off, len);
    return (off + chunk.size() < xml.size() ? "m" : "l") + chunk;
  }
  if (p == "qfThreadInfo") {
    std::string r = "m";
    for (uint32_t i = 0; i < regs_.size(); ++i) r += fmt::format("{}{:x}", i ? "," : "", i + 1);
    return r;
  }
  if (p == "qsThreadInfo") return "l";
  if (p == "qC") return fmt::format("QC{:x}", g_thread_ + 1);
  if (starts_with(p, "qAttached")) return "1";  // detaching leaves the VM running
  if (starts_with(p, "qThreadExtraInfo,")) {
    auto t = parse_thread(p.substr(17));
    if (!t) return "E22";
    return to_hex(fmt::format("vCPU {}", *t));
  }
  if (starts_with(p, "qSymbol")) return "OK";
  return "";
}

std::optional<uint32_t> Session::parse_thread(std::string_view s) const {
  // "-1" (all) and "0" (any) pick the first vCPU; "p..." multiprocess ids are not announced.
  if (s == "-1" || s == "0") return 0;
  auto v = parse_hex(s);
  if (!v || *v == 0 || *v > regs_.size()) return std::nullopt;
  return uint32_t(*v - 1);
}

std::string Session::set_thread(std::string_view p) {
  if (p.empty() || (p[0] != 'g' && p[0] != 'c')) return "E22";
  auto t = parse_thread(p.substr(1));
  if (!t) return "E22";
  (p[0] == 'g' ? g_thread_ : c_thread_) = *t;
  return "OK";
}

const hv::DebugRegs& Session::regs(uint32_t vcpu) {
  if (!regs_.at(vcpu)) regs_[vcpu] = target_.read_registers(vcpu);
  return *regs_[vcpu];
}

size_t Session::access_virtual(uint32_t vcpu, uint64_t vaddr, std::span<uint8_t> buf, bool write) {
  const hv::DebugRegs& r = regs(vcpu);
  PhysReader read = [&](uint64_t gpa, void* out, size_t len) {
    return target_.read_physical(gpa, std::span<uint8_t>(static_cast<uint8_t*>(out), len));
  };
  size_t done = 0;
  while (done < buf.size()) {
    uint64_t va = vaddr + done;
    auto gpa = translate(r, va, read);
    if (!gpa) break;
    size_t n = std::min<size_t>(buf.size() - done, 4096 - (va & 4095));
    auto part = buf.subspan(done, n);
    bool ok = write ? target_.write_physical(*gpa, part) : target_.read_physical(*gpa, part);
    if (!ok) break;
    done += n;
  }
  return done;
}

std::string Session::read_memory(std::string_view args) {
  uint64_t addr = 0, len = 0;
  if (!parse_addr_len(args, addr, len)) return "E22";
  std::vector<uint8_t> buf(std::min<uint64_t>(len, kMaxMemoryChunk));
  size_t n = access_virtual(g_thread_, addr, buf, false);
  if (n == 0 && !buf.empty()) return "E14";  // EFAULT
  buf.resize(n);
  sw_.hide(addr, buf);
  return to_hex(buf);
}

std::string Session::write_memory(std::string_view args) {
  auto colon = args.find(':');
  uint64_t addr = 0, len = 0;
  if (colon == std::string_view::npos || !parse_addr_len(args.substr(0, colon), addr, len)) return "E22";
  auto bytes = from_hex(args.substr(colon + 1));
  if (!bytes || bytes->size() != len) return "E22";
  for (size_t i = 0; i < bytes->size(); ++i) (*bytes)[i] = sw_.write_through(addr + i, (*bytes)[i]);
  return access_virtual(g_thread_, addr, *bytes, true) == bytes->size() ? "OK" : "E14";
}

std::string Session::breakpoint(bool insert, std::string_view args) {
  // TYPE,ADDR,KIND (gdb manual, "z type,addr,kind").
  if (args.size() < 2 || args[1] != ',') return "E22";
  char type = args[0];
  uint64_t addr = 0, kind = 0;
  if (!parse_addr_len(args.substr(2), addr, kind)) return "E22";
  if (emulate_) return emulated_breakpoint(insert, type, addr, kind);
  if (type == '0') {
    SoftwareBreakpoints::Reader rd = [&](uint64_t gpa, uint8_t& b) {
      return target_.read_physical(gpa, std::span<uint8_t>(&b, 1));
    };
    SoftwareBreakpoints::Writer wr = [&](uint64_t gpa, uint8_t b) {
      return target_.write_physical(gpa, std::span<const uint8_t>(&b, 1));
    };
    if (!insert) return sw_.remove(addr, wr, rd) ? "OK" : "E22";
    PhysReader read = [&](uint64_t gpa, void* out, size_t len) {
      return target_.read_physical(gpa, std::span<uint8_t>(static_cast<uint8_t*>(out), len));
    };
    auto gpa = translate(regs(g_thread_), addr, read);
    if (!gpa || !sw_.insert(addr, *gpa, rd, wr)) return "E14";
    return "OK";
  }
  HwKind k;
  switch (type) {
    case '1': k = HwKind::kExec; break;
    case '2': k = HwKind::kWrite; break;
    case '4': k = HwKind::kAccess; break;
    default: return "";  // Z3 (read watchpoints): no x86 encoding
  }
  if (insert) return hw_.insert(k, addr, kind) ? "OK" : "E28";  // ENOSPC: four slots
  return hw_.remove(k, addr, kind) ? "OK" : "E22";
}

std::string Session::emulated_breakpoint(bool insert, char type, uint64_t addr, uint64_t len) {
  if (type != '0' && type != '1' && type != '2') return "";  // access/read watchpoints: not emulated
  if (type == '2' && (len == 0 || len > 8)) return "E22";
  auto it = std::find_if(emulated_.begin(), emulated_.end(),
                         [&](const Emulated& e) { return e.type == type && e.addr == addr; });
  if (!insert) {
    if (it == emulated_.end()) return "E22";
    emulated_.erase(it);
    return "OK";
  }
  if (it == emulated_.end()) emulated_.push_back({type, addr, type == '2' ? len : 1, {}});
  return "OK";
}

void Session::resume_stepping_all() {
  // Every vCPU executes at most one instruction per round (each traps after
  // it and is held), so a breakpoint is caught before its instruction runs.
  std::vector<hv::GuestDebug> cfg(regs_.size());
  for (auto& g : cfg) g.enable = g.single_step = true;
  target_.resume(cfg, std::nullopt);
  regs_.assign(regs_.size(), std::nullopt);
  running_ = stepping_all_ = true;
}

std::string Session::check_emulated(uint32_t trapped) {
  target_.stop();
  for (uint32_t i = 0; i < regs_.size(); ++i)
    for (auto& e : emulated_)
      if (e.type != '2' && regs(i).rip == e.addr) {
        running_ = stepping_all_ = false;
        g_thread_ = c_thread_ = i;
        last_stop_ = stop_reply(i, e.type == '0' ? "swbreak:;" : "hwbreak:;", kSigTrap);
        return reply(last_stop_);
      }
  for (auto& e : emulated_) {
    if (e.type != '2') continue;
    std::vector<uint8_t> now(e.len);
    now.resize(access_virtual(trapped, e.addr, now, false));
    if (now != e.last) {
      running_ = stepping_all_ = false;
      g_thread_ = c_thread_ = trapped;
      last_stop_ = stop_reply(trapped, fmt::format("watch:{:x};", e.addr), kSigTrap);
      return reply(last_stop_);
    }
  }
  resume_stepping_all();
  return {};
}

std::string Session::vcont(std::string_view actions) {
  // ACTION[:TID](;ACTION[:TID])*: the first action naming a thread (or none)
  // applies to it. All-stop with one step at a time: a step anywhere steps
  // that vCPU alone; otherwise everything continues.
  std::optional<uint32_t> step;
  while (!actions.empty()) {
    auto semi = actions.find(';');
    std::string_view a = actions.substr(0, semi);
    actions = semi == std::string_view::npos ? std::string_view() : actions.substr(semi + 1);
    if (a.empty()) return "E22";
    char op = a[0];
    if (op != 'c' && op != 'C' && op != 's' && op != 'S') return "E22";
    std::optional<uint32_t> tid = c_thread_;
    auto colon = a.find(':');
    if (colon != std::string_view::npos) {
      tid = parse_thread(a.substr(colon + 1));
      if (!tid) return "E22";
    }
    if ((op == 's' || op == 'S') && !step) step = tid;
  }
  return resume(step);
}

std::string Session::resume(std::optional<uint32_t> step) {
  if (emulate_ && !step && !emulated_.empty()) {
    // The values write watchpoints compare against: as they are now.
    for (auto& e : emulated_)
      if (e.type == '2') {
        e.last.assign(e.len, 0);
        e.last.resize(access_virtual(g_thread_, e.addr, e.last, false));
      }
    resume_stepping_all();
    return "\x01";
  }
  std::vector<hv::GuestDebug> cfg(regs_.size());
  bool sw = !sw_.empty(), hw = !hw_.empty();
  for (uint32_t i = 0; i < cfg.size(); ++i) {
    auto& g = cfg[i];
    g.single_step = step == i;
    g.sw_breakpoints = sw;
    g.hw_breakpoints = hw;
    g.dr = hw_.dr();
    g.dr7 = hw_.dr7();
    g.inject_bp = inject_bp_[i];
    g.enable = g.single_step || sw || hw || g.inject_bp;
  }
  target_.resume(cfg, step);
  inject_bp_.assign(inject_bp_.size(), false);
  regs_.assign(regs_.size(), std::nullopt);
  stepping_ = step;
  running_ = true;
  return "\x01";
}

std::string Session::stop_reply(uint32_t vcpu, std::string_view reason, int signal) {
  return fmt::format("T{:02x}thread:{:x};{}", signal, vcpu + 1, reason);
}

std::string Session::on_trap(uint32_t vcpu, const hv::DebugTrap& trap) {
  if (!running_ || vcpu >= regs_.size()) return {};  // raced with a stop: the vCPU re-traps when resumed
  if (stepping_all_) return check_emulated(vcpu);
  std::string reason;
  if (trap.exception == 3) {
    if (!sw_.contains(trap.pc)) {
      // The guest's own int3: deliver it, and let the VM run on.
      inject_bp_[vcpu] = true;
      resume(stepping_);
      return {};
    }
    reason = "swbreak:;";
  } else if (auto hit = hw_.hit(trap.dr6)) {
    if (hit->kind == HwKind::kExec)
      reason = "hwbreak:;";
    else
      reason = fmt::format("{}:{:x};", hit->kind == HwKind::kWrite ? "watch" : "awatch", hit->addr);
  }
  // Otherwise a single step (DR6.BS), or a #DB that is neither: reported as
  // a plain SIGTRAP rather than hidden.
  target_.stop();
  running_ = false;
  stepping_.reset();
  g_thread_ = c_thread_ = vcpu;
  last_stop_ = stop_reply(vcpu, reason, kSigTrap);
  return reply(last_stop_);
}

std::string Session::on_vm_end(int status) {
  finished_ = true;
  if (!running_) return {};
  running_ = false;
  return reply(fmt::format("W{:02x}", status & 0xff));
}

void Session::detach() {
  if (running_) target_.stop();  // nothing may trap on a breakpoint being removed
  running_ = false;
  SoftwareBreakpoints::Reader rd = [&](uint64_t gpa, uint8_t& b) {
    return target_.read_physical(gpa, std::span<uint8_t>(&b, 1));
  };
  SoftwareBreakpoints::Writer wr = [&](uint64_t gpa, uint8_t b) {
    return target_.write_physical(gpa, std::span<const uint8_t>(&b, 1));
  };
  sw_.remove_all(wr, rd);
  hw_.clear();
  emulated_.clear();
  stepping_all_ = false;
  // GuestDebug{} everywhere: KVM gives each vCPU its own DR7 and exceptions back.
  std::vector<hv::GuestDebug> off(regs_.size());
  target_.resume(off, std::nullopt);
}

}  // namespace amber::gdb
