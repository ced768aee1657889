#pragma once
// What the Linux tests share: where amber and the guest artifacts are, a
// temporary directory per test, file helpers (sparse-aware: the images and
// disks are sparse and the sandbox keeps /tmp in RAM), and the shell dialogue
// with the guest's busybox ash.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process.h"

namespace lt {

// AMBER_BIN and AMBER_GUEST_DIR (tools/test.sh sets both); defaults relative to
// this executable in the build tree.
const std::string& amber_bin();
const std::string& guest_dir();
std::string guest_file(const std::string& name);
// Empty when /dev/kvm can be used and the artifacts exist; else why not.
std::string why_not_runnable();

// The extra kernel parameters most tests use: `quiet` keeps the console to
// (almost) only the markers, which also saves thousands of UART exits.
inline constexpr const char* kQuiet = "quiet";

class TempDir {
 public:
  TempDir();
  ~TempDir();  // removed unless AMBER_LT_KEEP=1
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// ---- files ----------------------------------------------------------------
bool exists(const std::string& path);
uint64_t file_size(const std::string& path);
uint64_t allocated_bytes(const std::string& path);  // st_blocks * 512
std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& data);
// Copies the first `limit` bytes (all by default), keeping holes as holes.
void copy_file(const std::string& from, const std::string& to, uint64_t limit = UINT64_MAX);
// A digest of the size and the contents (every non-zero 4 KiB block with its
// offset; holes and zero blocks are the same thing).
uint64_t file_digest(const std::string& path);
// Whether the file's bytes contain `needle` (holes skipped).
bool file_contains(const std::string& path, const std::string& needle);
// XORs the byte at `offset` with 0xff; returns the old value.
uint8_t flip_byte(const std::string& path, uint64_t offset);

// ---- the guest shell ------------------------------------------------------
// Gets a fresh prompt: sends Enter until "amber# " appears (input typed before
// ash opened the tty is lost, so one Enter may not be enough).
bool wait_prompt(Process& p, int tries = 12);
// Types `cmd` at the prompt and returns what it printed (the text between the
// echoed command line and the next prompt, trimmed). nullopt (and a test
// failure with the transcript) when the echo or the prompt does not come.
std::optional<std::string> shell(Process& p, const std::string& cmd, Seconds timeout = 60s);
std::vector<std::string> words(const std::string& s);
bool has_word(const std::string& s, const std::string& w);
// Lines of `text` that contain `needle`.
int count_lines_with(const std::string& text, const std::string& needle);

// ---- fixture ----------------------------------------------------------------
class LinuxTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // `amber ARGS...` with the temp dir as working directory.
  std::unique_ptr<Process> amber(std::vector<std::string> args);
  RunResult amber_run(std::vector<std::string> args, Seconds timeout = 120s);
  // Copies a guest artifact into the temp dir and returns the copy's path.
  std::string copy_guest(const std::string& name, const std::string& as = "");

  std::unique_ptr<TempDir> tmp_;
};

// Fails the test (with the transcript) unless a process that should have ended
// cleanly did: no C++ termination, no signal.
void expect_no_crash(const std::string& out, const std::string& err, const ExitStatus& st);

}  // namespace lt
