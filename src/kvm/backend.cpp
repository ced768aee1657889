#include "kvm/backend.h"

#include <sys/stat.h>

#include <cstdint>

namespace amber::kvm {
namespace {

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// The host CPU's CPUID (not the compiler's <cpuid.h>: src/kvm/cpuid.h
// shadows it on this target's include path).
void host_cpuid(uint32_t leaf, uint32_t& a, uint32_t& b, uint32_t& c, uint32_t& d) {
  asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(0));
}

}  // namespace

KvmBackend classify_backend(const BackendFacts& f) {
  int modules = int(f.intel_module) + int(f.amd_module) + int(f.pvm_module);
  if (modules == 1) {
    if (f.pvm_module) return KvmBackend::pvm;
    return f.intel_module ? KvmBackend::intel : KvmBackend::amd;
  }
  if (modules > 1) return KvmBackend::unknown;  // not a state KVM allows: do not guess
  if (f.cpu_vmx != f.cpu_svm) return f.cpu_vmx ? KvmBackend::intel : KvmBackend::amd;
  return KvmBackend::unknown;
}

namespace {

BackendFacts read_facts_from(const std::string& dir) {
  BackendFacts f;
  f.intel_module = exists(dir + "/kvm_intel");
  f.amd_module = exists(dir + "/kvm_amd");
  f.pvm_module = exists(dir + "/kvm_pvm");
  uint32_t a, b, c, d;
  host_cpuid(0, a, b, c, d);
  if (a >= 1) {
    host_cpuid(1, a, b, c, d);
    f.cpu_vmx = (c >> 5) & 1;
  }
  host_cpuid(0x80000000, a, b, c, d);
  if (a >= 0x80000001) {
    host_cpuid(0x80000001, a, b, c, d);
    f.cpu_svm = (c >> 2) & 1;
  }
  return f;
}

}  // namespace

BackendFacts read_backend_facts(const std::string& dir) {
  // /sys/module is read once per process: `amber run --jail` reads it
  // before pivoting into a root that has no /sys (src/sandbox/jail.h).
  if (dir == "/sys/module") {
    static const BackendFacts cached = read_facts_from(dir);
    return cached;
  }
  return read_facts_from(dir);
}

KvmBackend detect_kvm_backend() { return classify_backend(read_backend_facts()); }

const char* backend_name(KvmBackend b) {
  switch (b) {
    case KvmBackend::intel: return "intel";
    case KvmBackend::amd: return "amd";
    case KvmBackend::pvm: return "pvm";
    case KvmBackend::unknown: break;
  }
  return "unknown";
}

bool runs_unmodified_linux(KvmBackend b) { return b == KvmBackend::intel || b == KvmBackend::amd; }

}  // namespace amber::kvm
