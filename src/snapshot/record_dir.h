// A per-user directory of small record files about image files, kept in
// the user's cache (checked_images.h: which images were checked;
// hot_chunks.h: which chunks a resumed guest touched first). Every
// operation is best effort: a missing or unwritable directory only costs
// the work the record would have saved, never an error.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace amber::image {

// $XDG_CACHE_HOME/amber/LEAF, else $HOME/.cache/amber/LEAF, else "" (a jail
// without a home: no records).
std::string user_record_dir(std::string_view leaf);

// Replaces DIR/NAME with `text` atomically (a temporary file, then rename),
// creating DIR and its two parents (0700: records are the user's own), and
// prunes the oldest half of the records once there are more than 4096.
void write_record(const std::string& dir, const std::string& name, const std::string& text) noexcept;

// The contents of DIR/NAME when it is a regular file of at most `max` bytes
// (a symlink is not followed); nullopt otherwise.
std::optional<std::string> read_record(const std::string& dir, const std::string& name, size_t max) noexcept;

}  // namespace amber::image
