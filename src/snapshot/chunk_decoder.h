#pragma once
// Decoding one chunk of a zstd RAM region (docs/image-format.md "zstd RAM
// region"): shared by the eager path (Image::map_ram, read_ram) and the lazy
// one (lazy_ram.cpp).
#include <zstd.h>

#include <cstdint>
#include <vector>

#include <fmt/core.h>

#include "amber/error.h"
#include "snapshot/image.h"
#include "snapshot/image_format.h"
#include "snapshot/read_at.h"

namespace amber::image {

// Decompresses one zstd chunk of a RAM region into `dst` (chunk.length
// bytes), checking both of its checksums. One per thread.
struct ChunkDecoder {
  ZSTD_DCtx* dctx = nullptr;
  std::vector<uint8_t> frame;
  ChunkDecoder() = default;
  ChunkDecoder(const ChunkDecoder&) = delete;
  ChunkDecoder& operator=(const ChunkDecoder&) = delete;
  ~ChunkDecoder() { ZSTD_freeDCtx(dctx); }

  void decode(const Image& img, size_t i, size_t j, uint8_t* dst) {
    auto& r = img.ram_regions()[i];
    auto& c = r.chunks[j];
    auto what = fmt::format("RAM region {} chunk {}", i, j);
    if (!dctx && !(dctx = ZSTD_createDCtx())) throw Error("zstd: out of memory");
    frame.resize(c.frame_size);
    read_at(img.fd(), frame.data(), c.frame_size, r.file_offset + c.frame_offset, img.path(), what);
    if (xxh3(frame.data(), c.frame_size) != c.xxh3_frame)
      throw Error(fmt::format("{}: {} (file offset {}): frame checksum mismatch", img.path(), what,
                              r.file_offset + c.frame_offset));
    // The destination bound is the chunk length from the validated table,
    // never the frame's own content-size field.
    size_t n = ZSTD_decompressDCtx(dctx, dst, c.length, frame.data(), c.frame_size);
    if (ZSTD_isError(n) || n != c.length)
      throw Error(fmt::format("{}: {}: bad zstd frame: {}", img.path(), what,
                              ZSTD_isError(n) ? ZSTD_getErrorName(n) : fmt::format("{} bytes, want {}", n, c.length)));
    if (xxh3(dst, c.length) != c.xxh3_raw) throw Error(fmt::format("{}: {}: data checksum mismatch", img.path(), what));
  }
};

}  // namespace amber::image
