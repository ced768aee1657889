#pragma once
// The initramfs of `amber exec`, written in memory for each run: amber-init
// as /init, the run's configuration as /amber-exec.conf, and /dev/console
// (the kernel opens it for init's stdin/stdout/stderr). Uncompressed newc
// cpio: the kernel unpacks it without a decompressor, and it is small.
#include <cstdint>
#include <span>
#include <vector>

#include "exec/exec_config.h"

namespace amber::exec {

// amber-init's static binary (src/exec/init/amber_init.c), embedded at build time.
extern const std::span<const uint8_t> amber_init_binary;

std::vector<uint8_t> build_exec_initramfs(const ExecConfig& config);

}  // namespace amber::exec
