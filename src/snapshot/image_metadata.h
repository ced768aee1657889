#pragma once
// The image's metadata tree (docs/image-format.md, "Metadata"): builds it
// from the section tables on save, and parses it back on open. Parsing checks
// the shape of every property; image_reader.cpp checks the numbers against
// the file.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "snapshot/image.h"

namespace amber::image {

struct Metadata {
  ImageInfo info;
  StateNode machine;
  std::vector<Image::RamRegion> ram;
  std::vector<Image::Disk> disks;
};

std::vector<uint8_t> build_metadata(const ImageInfo& info, const StateNode& machine,
                                    const std::vector<Image::RamRegion>& ram,
                                    const std::vector<Image::Disk>& disks);

// `blob` must already match the header's size and checksum. Throws Error
// prefixed with `file` naming the bad node.
Metadata parse_metadata(std::span<const uint8_t> blob, const std::string& file);

const char* codec_name(Codec c);

}  // namespace amber::image
