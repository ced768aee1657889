// The server against a hostile guest: escapes from the share (".." at the
// root, symlinks anywhere in a walk, names with '/' or NUL), read-only
// shares, bad and reused fids, and malformed or oversized messages.
#include <fcntl.h>
#include <sys/resource.h>

#include "virtio/p9/server_test_support.h"

namespace amber::virtio::p9::testing {
namespace {

// The qid path (inode) of fid `fid`.
uint64_t ino_of(Client& c, uint32_t fid) {
  auto r = c.getattr(fid);  // body() reads r's bytes: keep r alive
  auto b = r.body();
  b.u64();
  b.u8();
  b.u32();
  return b.u64();
}

TEST_F(ServerTest, DotDotAtTheRootStaysAtTheRoot) {
  auto w = c().walk(0, 1, {"..", "..", ".."});
  ASSERT_EQ(Client::walked(w), 3);
  struct stat st {};
  ::stat(share_.c_str(), &st);
  EXPECT_EQ(ino_of(c(), 1), st.st_ino);
  // outside.txt lies in the share's parent: not reachable by any walk.
  EXPECT_EQ(Client::walked(c().walk(0, 2, {"..", "outside.txt"})), 1);
  EXPECT_EQ(c().walk(0, 2, {"outside.txt"}).error(), uint32_t(ENOENT));
  EXPECT_EQ(c().walk(0, 2, {"dir", "..", "..", "outside.txt"}).type, kRwalk);
  EXPECT_EQ(c().clunk(2).error(), uint32_t(EBADF)) << "the partial walk made no fid";
  // ".." from a subdirectory goes up one level, inside the share.
  ASSERT_EQ(Client::walked(c().walk(0, 3, {"dir", "..", "hello.txt"})), 3);
  EXPECT_EQ(c().cat(4, {"dir", "..", "hello.txt"}), "hello 9p");
}

TEST_F(ServerTest, SymlinksAreNeverFollowed) {
  ASSERT_EQ(::symlink("../outside.txt", host("rel-out").c_str()), 0);
  ASSERT_EQ(::symlink((tmp_.path() + "/outside.txt").c_str(), host("abs-out").c_str()), 0);
  ASSERT_EQ(::symlink("..", host("up").c_str()), 0);
  ASSERT_EQ(::symlink("dir", host("in-share").c_str()), 0);
  // Walking to a link gives the link itself (a symlink qid); opening it fails.
  for (const char* name : {"rel-out", "abs-out", "in-share"}) {
    auto w = c().walk(0, 1, {name});
    ASSERT_EQ(Client::walked(w), 1) << name;
    auto b = w.body();
    b.u16();
    EXPECT_EQ(b.u8(), kQidSymlink) << name;
    EXPECT_EQ(c().lopen(1, O_RDONLY).error(), uint32_t(ELOOP)) << name;
    EXPECT_EQ(c().clunk(1).type, kRclunk);
  }
  // A link in the middle of a walk is not crossed, even one that would
  // stay inside the share.
  // (Rwalk stops after the link: one qid, and newfid is not made.)
  EXPECT_EQ(Client::walked(c().walk(0, 1, {"up", "outside.txt"})), 1);
  EXPECT_EQ(Client::walked(c().walk(0, 1, {"in-share", "inner.txt"})), 1);
  EXPECT_EQ(c().clunk(1).error(), uint32_t(EBADF));
  // Walking on from a fid that holds a link: the kernel refuses (ELOOP or
  // ENOTDIR), never resolving the link.
  ASSERT_EQ(Client::walked(c().walk(0, 6, {"in-share"})), 1);
  EXPECT_NE(c().walk(6, 7, {"inner.txt"}).type, kRwalk);
  auto partial = c().walk(0, 1, {"dir", "..", "up", "outside.txt"});
  EXPECT_EQ(Client::walked(partial), 3) << "stops at the name after the link";
  // Creating through a link fails too: lcreate/mkdir act on the link's fid.
  ASSERT_EQ(Client::walked(c().walk(0, 2, {"up"})), 1);
  EXPECT_NE(c().lcreate(2, "planted", O_RDWR | O_CREAT).type, kRlcreate);
  EXPECT_NE(c().mkdir(2, "planted").type, kRmkdir);
  EXPECT_FALSE(::access((tmp_.path() + "/planted").c_str(), F_OK) == 0);
  // lcreate over an existing link fails rather than writing its target.
  EXPECT_NE(c().lcreate(0, "abs-out", O_RDWR | O_CREAT | O_TRUNC).type, kRlcreate);
  auto outside = block::testing::TempDir::read_all(tmp_.path() + "/outside.txt");
  EXPECT_EQ(std::string(outside.begin(), outside.end()), "outside-secret");
}

TEST_F(ServerTest, NamesWithSlashNulOrTooLongAreRefused) {
  std::string nul("hello.txt\0x", 11);
  for (const std::string& bad : {std::string("dir/inner.txt"), std::string("/etc"), std::string(""), nul,
                                 std::string("../outside.txt")}) {
    EXPECT_NE(c().walk(0, 1, {bad}).type, kRwalk) << bad;
    EXPECT_EQ(c().mkdir(0, bad).error(), uint32_t(EINVAL)) << bad;
    EXPECT_EQ(c().lcreate(0, bad, O_RDWR | O_CREAT).error(), uint32_t(EINVAL)) << bad;
    EXPECT_EQ(c().symlink(0, bad, "x").error(), uint32_t(EINVAL)) << bad;
    EXPECT_EQ(c().unlinkat(0, bad).error(), uint32_t(EINVAL)) << bad;
  }
  EXPECT_EQ(c().mkdir(0, "..").error(), uint32_t(EINVAL));
  EXPECT_EQ(c().renameat(0, "hello.txt", 0, "..").error(), uint32_t(EINVAL));
  EXPECT_EQ(c().renameat(0, "hello.txt", 0, "../escaped").error(), uint32_t(EINVAL));
  EXPECT_EQ(c().mkdir(0, std::string(256, 'a')).error(), uint32_t(ENAMETOOLONG));
  EXPECT_EQ(c().walk(0, 1, {std::string(300, 'a')}).error(), uint32_t(ENAMETOOLONG));
  EXPECT_EQ(c().symlink(0, "l", std::string("a\0b", 3)).error(), uint32_t(EINVAL));
  EXPECT_EQ(::access((tmp_.path() + "/escaped").c_str(), F_OK), -1);
}

TEST_F(ServerTest, MoreThanSixteenNamesIsAnError) {
  std::vector<std::string> names(17, "dir");
  EXPECT_EQ(c().walk(0, 1, names).error(), uint32_t(EINVAL));
  std::vector<std::string> dots(16, "..");
  EXPECT_EQ(Client::walked(c().walk(0, 1, dots)), 16);
}

TEST_F(ServerTest, BadAndReusedFids) {
  EXPECT_EQ(c().walk(99, 1, {}).error(), uint32_t(EBADF));
  EXPECT_EQ(c().lopen(99, O_RDONLY).error(), uint32_t(EBADF));
  EXPECT_EQ(c().read(99, 0, 10).error(), uint32_t(EBADF));
  EXPECT_EQ(c().getattr(99).error(), uint32_t(EBADF));
  EXPECT_EQ(c().mkdir(99, "x").error(), uint32_t(EBADF));
  EXPECT_EQ(c().call(Msg(kTremove).u32(99)).error(), uint32_t(EBADF));
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"dir"})), 1);
  EXPECT_EQ(c().walk(0, 1, {"hello.txt"}).error(), uint32_t(EEXIST)) << "newfid in use";
  EXPECT_EQ(c().attach(1).error(), uint32_t(EBADF));
  // After a clunk the number is free again.
  EXPECT_EQ(c().clunk(1).type, kRclunk);
  EXPECT_EQ(Client::walked(c().walk(0, 1, {"hello.txt"})), 1);
  // The root cannot be removed; the fid is clunked anyway (remove(5)).
  ASSERT_EQ(Client::walked(c().walk(0, 5, {})), 0);
  EXPECT_EQ(c().call(Msg(kTremove).u32(5)).error(), uint32_t(EBUSY));
  EXPECT_EQ(c().clunk(5).error(), uint32_t(EBADF));
}

TEST_F(ServerTest, FidCountIsBounded) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < FidTable::kMaxFids + 100) GTEST_SKIP() << "RLIMIT_NOFILE " << rl.rlim_cur << " is below the fid cap";
  uint32_t made = 0;
  for (uint32_t f = 1; f <= FidTable::kMaxFids + 10; ++f)
    if (c().walk(0, f, {}).type == kRwalk) ++made;
  EXPECT_EQ(made, FidTable::kMaxFids - 1);  // fid 0 is the root
  EXPECT_EQ(c().walk(0, 999999, {}).error(), uint32_t(EMFILE));
  EXPECT_EQ(c().attach(999999).error(), uint32_t(EMFILE));
}

TEST_F(ServerTest, ReadCountIsBoundedByMsizeAndTheReplyBuffer) {
  std::vector<uint8_t> big(100000, 'x');
  tmp_.write("share/big", big);
  c().version(8192);
  c().attach(0);
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"big"})), 1);
  ASSERT_EQ(c().lopen(1, O_RDONLY).type, kRlopen);
  auto r = c().read(1, 0, 0xffffffff);
  ASSERT_EQ(r.type, kRread);
  EXPECT_EQ(r.raw.size(), 8192u);
  EXPECT_EQ(Client::data(r).size(), 8192u - 11);
  auto small = c().read(1, 0, 0xffffffff, 100);  // the driver gave 100 writable bytes
  ASSERT_EQ(small.type, kRread);
  EXPECT_EQ(Client::data(small).size(), 89u);
  // Readdir likewise.
  auto d = c().readdir(0, 0, 0xffffffff);
  EXPECT_EQ(d.error(), uint32_t(EBADF));  // fid 0 is not open
  EXPECT_TRUE(c().read(1, uint64_t(1) << 63, 10).error() == EINVAL);
  // No room even for Rlerror: no reply at all.
  EXPECT_TRUE(c().read(1, 0, 10, 10).empty());
}

TEST_F(ServerTest, TruncatedAndOversizedMessagesGetRlerror) {
  // Shorter than a header: nothing to answer to.
  EXPECT_TRUE(c().send({1, 2, 3}).empty());
  // The size field larger than the bytes given, or than msize.
  auto m = Msg(kTclunk, 9).u32(0);
  auto r = c().send(m.bytes_with_size(100));
  EXPECT_EQ(r.error(), uint32_t(EMSGSIZE));
  EXPECT_EQ(r.tag, 9);
  EXPECT_EQ(c().send(m.bytes_with_size(3)).error(), uint32_t(EMSGSIZE));
  std::vector<uint8_t> huge = Msg(kTwrite).u32(0).u64(0).u32(70000).bytes();
  huge.resize(70000 + 23, 'z');
  for (int i = 0; i < 4; ++i) huge[size_t(i)] = uint8_t(huge.size() >> (8 * i));
  EXPECT_EQ(c().send(huge).error(), uint32_t(EMSGSIZE)) << "bigger than the 64 KiB msize";
  // Fields cut short: every op answers EINVAL.
  for (uint8_t t : {kTattach, kTwalk, kTlopen, kTlcreate, kTread, kTwrite, kTreaddir, kTgetattr, kTsetattr,
                    kTmkdir, kTsymlink, kTmknod, kTlink, kTrename, kTrenameat, kTunlinkat, kTlock, kTgetlock,
                    kTstatfs, kTfsync, kTreadlink, kTclunk, kTremove, kTversion})
    EXPECT_EQ(c().call(Msg(t).u8(0)).error(), uint32_t(EINVAL)) << int(t);
  // A string or write count that claims more than the message holds.
  EXPECT_EQ(c().call(Msg(kTwalk).u32(0).u32(1).u16(1).u16(500).raw({'a', 'b'})).error(), uint32_t(EINVAL));
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"hello.txt"})), 1);
  ASSERT_EQ(c().lopen(1, O_RDWR).type, kRlopen);
  EXPECT_EQ(c().call(Msg(kTwrite).u32(1).u64(0).u32(1000).raw({'a'})).error(), uint32_t(EINVAL));
  EXPECT_EQ(host_text("hello.txt"), "hello 9p");
}

TEST_F(ServerTest, OnlyRegularFilesAndDirectoriesOpen) {
  ASSERT_EQ(::mkfifo(host("fifo").c_str(), 0644), 0);
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"fifo"})), 1);
  EXPECT_EQ(c().lopen(1, O_RDONLY).error(), uint32_t(EPERM)) << "a FIFO would block the I/O thread";
  EXPECT_EQ(c().lopen(0, O_RDWR).error(), uint32_t(EISDIR));
}

class ReadOnlyServerTest : public ServerTest {
 protected:
  void SetUp() override { make(true); }
};

TEST_F(ReadOnlyServerTest, EveryModificationIsEROFS) {
  const uint32_t erofs = EROFS;
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"hello.txt"})), 1);
  ASSERT_EQ(Client::walked(c().walk(0, 2, {"dir"})), 1);
  EXPECT_EQ(c().lopen(1, O_RDWR).error(), erofs);
  EXPECT_EQ(c().lopen(1, O_RDONLY | O_TRUNC).error(), erofs);
  EXPECT_EQ(c().lcreate(2, "n", O_RDWR | O_CREAT).error(), erofs);
  EXPECT_EQ(c().mkdir(0, "n").error(), erofs);
  EXPECT_EQ(c().symlink(0, "n", "x").error(), erofs);
  EXPECT_EQ(c().call(Msg(kTmknod).u32(0).str("n").u32(S_IFIFO | 0644).u32(0).u32(0).u32(0)).error(), erofs);
  EXPECT_EQ(c().call(Msg(kTlink).u32(0).u32(1).str("n")).error(), erofs);
  EXPECT_EQ(c().call(Msg(kTrename).u32(1).u32(0).str("n")).error(), erofs);
  EXPECT_EQ(c().renameat(0, "hello.txt", 0, "n").error(), erofs);
  EXPECT_EQ(c().unlinkat(0, "hello.txt").error(), erofs);
  EXPECT_EQ(c().call(Msg(kTsetattr).u32(1).u32(kAttrSize).u32(0).u32(0).u32(0).u64(0).u64(0).u64(0).u64(0).u64(0))
                .error(),
            erofs);
  EXPECT_EQ(c().call(Msg(kTremove).u32(1)).error(), erofs);
  // Reading still works.
  EXPECT_EQ(c().cat(3, {"dir", "inner.txt"}), "inner");
  ASSERT_EQ(Client::walked(c().walk(0, 4, {"hello.txt"})), 1);
  ASSERT_EQ(c().lopen(4, O_RDONLY).type, kRlopen);
  EXPECT_EQ(c().write(4, 0, "x").error(), erofs);
  EXPECT_EQ(host_text("hello.txt"), "hello 9p");
  EXPECT_TRUE(host_exists("hello.txt"));
  EXPECT_FALSE(host_exists("n"));
}

}  // namespace
}  // namespace amber::virtio::p9::testing
