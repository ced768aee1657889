// Image::verify: re-reads every checksummed byte of the file.
#include <sys/stat.h>
#include <zstd.h>

#include <memory>

#include <fmt/core.h>

#include "amber/error.h"
#include "snapshot/image.h"
#include "snapshot/image_format.h"
#include "snapshot/read_at.h"

namespace amber::image {

namespace {

struct Checker {
  const Image& img;
  std::vector<uint8_t> buf;

  // Reads [off, off+len) and throws naming `what` unless its XXH3 is `want`.
  const uint8_t* check(uint64_t off, uint64_t len, uint64_t want, const std::string& what) {
    buf.resize(len);
    read_at(img.fd(), buf.data(), len, off, img.path(), what);
    if (xxh3(buf.data(), len) != want)
      throw Error(fmt::format("{} (file offset {}, {} bytes): checksum mismatch", what, off, len));
    return buf.data();
  }
};

}  // namespace

Image::VerifyResult Image::verify() const {
  Checker c{*this, {}};
  try {
    // Header and metadata are read again: the file may have changed since open().
    std::vector<uint8_t> head(kHeaderMaxSize);
    struct stat st {};
    if (::fstat(fd_.get(), &st) < 0) throw SysError("stat", errno);
    head.resize(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), kHeaderMaxSize));
    read_at(fd_.get(), head.data(), head.size(), 0, path_, "header");
    Header h = decode_header(head, path_);
    if (h.metadata_offset != metadata_offset_ || h.metadata_size != metadata_size_ || h.metadata_xxh3 != metadata_xxh3_)
      throw Error("header: changed since the image was opened");
    c.check(metadata_offset_, metadata_size_, metadata_xxh3_, "metadata");

    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    std::vector<uint8_t> raw;
    for (size_t i = 0; i < ram_.size(); ++i) {
      auto& r = ram_[i];
      for (size_t j = 0; j < r.runs.size(); ++j)
        c.check(r.file_offset + r.runs[j].offset, r.runs[j].length, r.runs[j].xxh3,
                fmt::format("RAM region {} run {}", i, j));
      for (size_t j = 0; j < r.chunks.size(); ++j) {
        auto& k = r.chunks[j];
        auto what = fmt::format("RAM region {} chunk {}", i, j);
        const uint8_t* frame = c.check(r.file_offset + k.frame_offset, k.frame_size, k.xxh3_frame, what + " frame");
        raw.resize(k.length);
        size_t n = ZSTD_decompressDCtx(dctx.get(), raw.data(), raw.size(), frame, k.frame_size);
        if (ZSTD_isError(n) || n != k.length) throw Error(what + ": bad zstd frame");
        if (xxh3(raw.data(), raw.size()) != k.xxh3_raw) throw Error(what + ": data checksum mismatch");
      }
    }
    for (size_t i = 0; i < disks_.size(); ++i) {
      auto& d = disks_[i];
      for (size_t j = 0; j < d.extents.size(); ++j)
        c.check(d.file_offset + d.extents[j].offset, d.extents[j].length, d.extents[j].xxh3,
                fmt::format("disk {} ('{}') extent {}", i, d.name, j));
    }
  } catch (const Error& e) {
    return {false, e.what()};
  }
  return {true, {}};
}

}  // namespace amber::image
