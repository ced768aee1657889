#pragma once
// Finding the non-zero pages of guest memory quickly: on a typical idle guest
// most pages are zero, and reading them is the bulk of the save time.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace amber::image {

// True if all `len` bytes are zero. Reads 64 bytes per step; stops at the
// first non-zero word, so data pages usually cost a few loads.
bool is_zero(const uint8_t* p, size_t len);

// Which of `npages` 4 KiB pages starting at `p` (page aligned) are populated
// (present or swapped) in this process, from /proc/self/pagemap: one byte per
// page, 1 = populated. Empty if pagemap cannot be read (callers then scan).
// Only for private anonymous memory is "not populated" the same as "zero".
std::vector<uint8_t> populated_pages(const uint8_t* p, size_t npages);

// Calls run(offset, length) for each maximal run of non-zero pages in
// [0, len) of `base` (len a multiple of 4096), in order. `populated`, if not
// empty, has one entry per page; unpopulated pages are taken as zero unread.
void for_each_nonzero_run(const uint8_t* base, size_t len, const std::vector<uint8_t>& populated,
                          const std::function<void(uint64_t offset, uint64_t length)>& run);

}  // namespace amber::image
