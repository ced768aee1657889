// Writes the seed corpus of p9_fuzz (format in p9_fuzz_input.h): sessions
// that reach every op, the escape attempts of the unit tests, and broken
// messages.
//   make_p9_seeds OUT_DIR
#include <fcntl.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "virtio/fuzz/p9_fuzz_input.h"
#include "virtio/p9/test_client.h"

using namespace amber::virtio;
using p9::testing::Msg;

namespace {
class Seed {
 public:
  explicit Seed(uint8_t flags) { b_.push_back(flags); }
  Seed& add(const std::vector<uint8_t>& m, uint16_t limit = 8192) {
    b_.push_back(uint8_t(limit));
    b_.push_back(uint8_t(limit >> 8));
    b_.push_back(uint8_t(m.size()));
    b_.push_back(uint8_t(m.size() >> 8));
    b_.insert(b_.end(), m.begin(), m.end());
    return *this;
  }
  Seed& add(const Msg& m, uint16_t limit = 8192) { return add(m.bytes(), limit); }
  void write(const std::string& dir, const std::string& name) const {
    std::ofstream(dir + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(b_.data()), long(b_.size()));
  }

 private:
  std::vector<uint8_t> b_;
};

Msg walk(uint32_t fid, uint32_t newfid, std::vector<std::string> names) {
  Msg m(p9::kTwalk);
  m.u32(fid).u32(newfid).u16(uint16_t(names.size()));
  for (auto& n : names) m.str(n);
  return m;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  const uint8_t s = fuzz::kP9FlagSession;
  Seed(0)
      .add(Msg(p9::kTversion, p9::kNoTag).u32(8192).str("9P2000.L"))
      .add(Msg(p9::kTattach).u32(0).u32(p9::kNoFid).str("u").str("").u32(0))
      .add(walk(0, 1, {"dir", "inner"}))
      .add(Msg(p9::kTlopen).u32(1).u32(O_RDONLY))
      .add(Msg(p9::kTread).u32(1).u64(0).u32(100))
      .add(Msg(p9::kTgetattr).u32(1).u64(p9::kGetattrBasic))
      .add(Msg(p9::kTclunk).u32(1))
      .write(dir, "session_read");
  Seed(s)
      .add(walk(0, 1, {"dir"}))
      .add(Msg(p9::kTlcreate).u32(1).str("new").u32(O_RDWR | O_CREAT).u32(0644).u32(0))
      .add(Msg(p9::kTwrite).u32(1).u64(0).u32(5).raw({'h', 'e', 'l', 'l', 'o'}))
      .add(Msg(p9::kTfsync).u32(1).u32(0))
      .add(Msg(p9::kTsetattr).u32(1).u32(p9::kAttrSize | p9::kAttrMode).u32(0600).u32(0).u32(0).u64(2).u64(0).u64(0).u64(0).u64(0))
      .add(Msg(p9::kTrenameat).u32(0).str("dir").u32(0).str("moved"))
      .add(Msg(p9::kTremove).u32(1))
      .write(dir, "create_write_rename_remove");
  Seed(s)
      .add(Msg(p9::kTmkdir).u32(0).str("d").u32(0755).u32(0))
      .add(Msg(p9::kTsymlink).u32(0).str("l").str("/etc/passwd").u32(0))
      .add(walk(0, 2, {"l"}))
      .add(Msg(p9::kTreadlink).u32(2))
      .add(walk(0, 3, {"file"}))
      .add(Msg(p9::kTlink).u32(0).u32(3).str("hard"))
      .add(Msg(p9::kTrename).u32(3).u32(0).str("renamed"))
      .add(Msg(p9::kTmknod).u32(0).str("fifo").u32(S_IFIFO | 0644).u32(0).u32(0).u32(0))
      .add(Msg(p9::kTunlinkat).u32(0).str("d").u32(p9::kDotlAtRemoveDir))
      .add(Msg(p9::kTstatfs).u32(0))
      .add(Msg(p9::kTlock).u32(0).u8(0).u32(0).u64(0).u64(1).u32(1).str("c"))
      .add(Msg(p9::kTgetlock).u32(0).u8(0).u64(0).u64(1).u32(1).str("c"))
      .add(Msg(p9::kTxattrwalk).u32(0).u32(9).str("user.a"))
      .add(Msg(p9::kTflush).u16(1))
      .write(dir, "names_and_misc");
  Seed(s)
      .add(Msg(p9::kTlopen).u32(0).u32(O_RDONLY | O_DIRECTORY))
      .add(Msg(p9::kTreaddir).u32(0).u64(0).u32(100))
      .add(Msg(p9::kTreaddir).u32(0).u64(0).u32(0xffffffff), 200)
      .write(dir, "readdir");
  Seed(s)
      .add(walk(0, 1, {"..", "..", "outside"}))
      .add(walk(0, 2, {"up", "outside"}))
      .add(walk(0, 3, {"rel-out"}))
      .add(Msg(p9::kTlopen).u32(3).u32(O_RDWR))
      .add(Msg(p9::kTlcreate).u32(0).str("abs-out").u32(O_RDWR | O_CREAT | O_TRUNC).u32(0644).u32(0))
      .add(Msg(p9::kTrenameat).u32(0).str("file").u32(0).str("../escaped"))
      .add(Msg(p9::kTmkdir).u32(0).str("a/b").u32(0755).u32(0))
      .write(dir, "escapes");
  Seed(s | fuzz::kP9FlagReadOnly)
      .add(Msg(p9::kTmkdir).u32(0).str("d").u32(0755).u32(0))
      .add(walk(0, 1, {"file"}))
      .add(Msg(p9::kTlopen).u32(1).u32(O_RDWR | O_TRUNC))
      .add(Msg(p9::kTunlinkat).u32(0).str("file").u32(0))
      .write(dir, "read_only");
  std::vector<uint8_t> lying = Msg(p9::kTwrite).u32(0).u64(0).u32(60000).bytes();
  Seed(s)
      .add(Msg(p9::kTclunk).u32(0).bytes_with_size(1000))
      .add(std::vector<uint8_t>{1, 2, 3})
      .add(lying)
      .add(walk(0, 1, std::vector<std::string>(17, "..")))
      .add(Msg(p9::kTread).u32(0).u64(0).u32(100), 5)
      .write(dir, "broken");
  std::printf("wrote 7 seeds to %s\n", dir.c_str());
  return 0;
}
