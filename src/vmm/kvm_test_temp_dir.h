#pragma once
// A temporary directory for the vmm KVM suite's end-to-end tests (cli, gdb,
// background save, seccomp), removed with its contents. `path` is empty
// when it could not be made; tests ASSERT on that.
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace amber::vmm::testing {

struct TempDir {
  std::string path;
  explicit TempDir(const char* prefix = "amber-test") {
    std::string t = (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
    if (::mkdtemp(t.data())) path = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace amber::vmm::testing
