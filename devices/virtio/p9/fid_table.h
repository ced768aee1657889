#pragma once
// The server's fids (9P intro(5)): the guest names files by 32-bit numbers
// it picks itself, so the table is a map bounded by kMaxFids.
#include <cstdint>
#include <string>
#include <unordered_map>

#include "amber/unique_fd.h"

namespace amber::virtio::p9 {

struct Fid {
  UniqueFd handle;       // O_PATH | O_NOFOLLOW: the file itself, never followed
  std::string path;      // below the share root, "" for the root; kept across renames
  UniqueFd open;         // after Tlopen / Tlcreate
  bool open_dir = false;
  bool open_write = false;
};

class FidTable {
 public:
  // A guest holds a fid per cached dentry and per open file; more than this
  // is a leak or an attack (each fid holds host file descriptors).
  static constexpr size_t kMaxFids = 16384;

  Fid* find(uint32_t id) {
    auto it = fids_.find(id);
    return it == fids_.end() ? nullptr : &it->second;
  }
  bool full() const { return fids_.size() >= kMaxFids; }
  // Replaces `id` when present (the caller checked whether it may).
  void put(uint32_t id, Fid&& f) { fids_.insert_or_assign(id, std::move(f)); }
  bool erase(uint32_t id) { return fids_.erase(id) > 0; }
  void clear() { fids_.clear(); }
  size_t size() const { return fids_.size(); }

  // After a rename of `from` to `to`: every fid at or below `from` follows
  // it, so later walks and removes from those fids use the new names.
  void renamed(const std::string& from, const std::string& to) {
    for (auto& [id, f] : fids_) {
      if (f.path == from)
        f.path = to;
      else if (f.path.size() > from.size() && f.path.compare(0, from.size(), from) == 0 && f.path[from.size()] == '/')
        f.path = to + f.path.substr(from.size());
    }
  }

 private:
  std::unordered_map<uint32_t, Fid> fids_;
};

}  // namespace amber::virtio::p9
