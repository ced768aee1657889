#include "kvm/backend.h"

#include <filesystem>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>

namespace amber::kvm {
namespace {

TEST(KvmBackend, TheLoadedVendorModuleDecides) {
  EXPECT_EQ(classify_backend({.intel_module = true}), KvmBackend::intel);
  EXPECT_EQ(classify_backend({.amd_module = true}), KvmBackend::amd);
  // PVM runs on CPUs with VMX too: the module, not the CPU flag, decides.
  EXPECT_EQ(classify_backend({.pvm_module = true, .cpu_vmx = true}), KvmBackend::pvm);
  EXPECT_EQ(classify_backend({.amd_module = true, .cpu_vmx = true}), KvmBackend::amd);
}

TEST(KvmBackend, WithoutAModuleTheCpuFlagDecidesAndNothingIsGuessed) {
  EXPECT_EQ(classify_backend({.cpu_vmx = true}), KvmBackend::intel);
  EXPECT_EQ(classify_backend({.cpu_svm = true}), KvmBackend::amd);
  EXPECT_EQ(classify_backend({}), KvmBackend::unknown);
  EXPECT_EQ(classify_backend({.cpu_vmx = true, .cpu_svm = true}), KvmBackend::unknown);
  EXPECT_EQ(classify_backend({.intel_module = true, .pvm_module = true}), KvmBackend::unknown);
}

TEST(KvmBackend, OnlyVtxAndAmdvRunUnmodifiedLinux) {
  EXPECT_TRUE(runs_unmodified_linux(KvmBackend::intel));
  EXPECT_TRUE(runs_unmodified_linux(KvmBackend::amd));
  EXPECT_FALSE(runs_unmodified_linux(KvmBackend::pvm));
  EXPECT_FALSE(runs_unmodified_linux(KvmBackend::unknown));
  EXPECT_STREQ(backend_name(KvmBackend::pvm), "pvm");
}

TEST(KvmBackend, ReadsTheModuleDirectory) {
  auto dir = std::filesystem::temp_directory_path() / ("amber-backend-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "kvm");
  std::filesystem::create_directories(dir / "kvm_pvm");
  BackendFacts f = read_backend_facts(dir.string());
  EXPECT_TRUE(f.pvm_module);
  EXPECT_FALSE(f.intel_module);
  EXPECT_FALSE(f.amd_module);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace amber::kvm
