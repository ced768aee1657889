#pragma once
// Builds a Machine from an image file: the configuration it was saved
// with, RAM mapped lazily from the image (raw: MAP_PRIVATE; zstd: filled on
// first touch and in the background, snapshot/lazy_ram.h), each embedded disk
// under a private copy-on-write overlay, and every saved state applied.
#include <map>
#include <memory>
#include <string>

#include "snapshot/image.h"
#include "snapshot/lazy_ram.h"
#include "vmm/machine.h"
#include "vmm/warm_vm.h"

namespace amber::vmm {

class WarmVm;

struct ResumeOptions {
  std::map<std::string, std::string> overlays;  // disk name -> overlay path ("" = temporary)
  std::function<void(const char* phase)> mark;  // --timings hook, may be empty
  image::LazyOptions lazy;                       // zstd RAM (tests inject a missing userfaultfd)
  // A VM created ahead (the warm pool, warm_vm.h): used when the image's
  // shape fits it, else `hv` makes a new one and `cold` says why.
  WarmVm* warm = nullptr;
  std::string* cold = nullptr;
};

std::unique_ptr<Machine> resume_machine(hv::Hypervisor& hv, const image::Image& img, const ResumeOptions& opts,
                                        Console* console);

}  // namespace amber::vmm
