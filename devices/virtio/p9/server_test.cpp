// The 9P2000.L ops of the server, one by one, against a real temporary
// directory (server_test_support.h).
#include <fcntl.h>

#include "virtio/p9/server_test_support.h"

namespace amber::virtio::p9::testing {
namespace {

TEST_F(ServerTest, VersionNegotiatesDownToTheCapAndResetsFids) {
  auto r = c().version(Server::kMaxMsize * 4);
  ASSERT_EQ(r.type, kRversion);
  auto b = r.body();
  EXPECT_EQ(b.u32(), Server::kMaxMsize);
  EXPECT_EQ(b.str(), "9P2000.L");
  EXPECT_EQ(server_->msize(), Server::kMaxMsize);
  EXPECT_EQ(server_->fid_count(), 0u) << "Tversion starts a new session";
  EXPECT_EQ(c().version(8192).body().u32(), 8192u);
  // A dialect the server does not speak: "unknown", and no session.
  auto u = c().version(8192, "9P2000.u");
  ASSERT_EQ(u.type, kRversion);
  auto ub = u.body();
  ub.u32();
  EXPECT_EQ(ub.str(), "unknown");
  EXPECT_EQ(c().attach(0).error(), uint32_t(EPROTO));
  EXPECT_EQ(c().version(100).error(), uint32_t(EINVAL)) << "msize below the minimum";
}

TEST_F(ServerTest, EverythingButVersionNeedsASession) {
  server_->reset();
  EXPECT_EQ(c().attach(0).error(), uint32_t(EPROTO));
  EXPECT_EQ(c().version().type, kRversion);
  EXPECT_EQ(c().attach(0).type, kRattach);
}

TEST_F(ServerTest, AttachGivesTheRootQidAndRefusesAFidInUse) {
  auto r = c().attach(7);
  ASSERT_EQ(r.type, kRattach);
  struct stat st {};
  ::stat(share_.c_str(), &st);
  auto b = r.body();
  EXPECT_EQ(b.u8(), kQidDir);
  b.u32();
  EXPECT_EQ(b.u64(), st.st_ino);
  EXPECT_EQ(c().attach(7).error(), uint32_t(EBADF));
}

TEST_F(ServerTest, WalkOpenReadAndTheReplyTag) {
  auto w = c().walk(0, 1, {"dir", "inner.txt"});
  ASSERT_EQ(Client::walked(w), 2);
  auto o = c().lopen(1, O_RDONLY);
  ASSERT_EQ(o.type, kRlopen);
  auto r = c().call(Msg(kTread, 0x1234).u32(1).u64(1).u32(100));
  EXPECT_EQ(r.tag, 0x1234);
  EXPECT_EQ(r.size, r.raw.size());
  EXPECT_EQ(Client::data(r), "nner");
  EXPECT_EQ(c().lopen(1, O_RDONLY).error(), uint32_t(EBADF)) << "a fid is opened once";
  EXPECT_EQ(c().clunk(1).type, kRclunk);
  EXPECT_EQ(c().clunk(1).error(), uint32_t(EBADF));
}

TEST_F(ServerTest, ZeroNameWalkClonesAnyFid) {
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"hello.txt"})), 1);
  auto clone = c().walk(1, 2, {});
  ASSERT_EQ(clone.type, kRwalk);
  EXPECT_EQ(Client::walked(clone), 0);
  ASSERT_EQ(c().lopen(2, O_RDONLY).type, kRlopen);
  EXPECT_EQ(Client::data(c().read(2, 0, 100)), "hello 9p");
  // newfid == fid walks the fid itself.
  ASSERT_EQ(Client::walked(c().walk(0, 3, {})), 0);
  ASSERT_EQ(Client::walked(c().walk(3, 3, {"dir"})), 1);
  EXPECT_EQ(Client::walked(c().walk(3, 3, {"inner.txt"})), 1);
}

TEST_F(ServerTest, PartialWalkCreatesNoFid) {
  auto w = c().walk(0, 1, {"dir", "missing", "x"});
  ASSERT_EQ(w.type, kRwalk);
  EXPECT_EQ(Client::walked(w), 1);
  EXPECT_EQ(c().clunk(1).error(), uint32_t(EBADF));
  EXPECT_EQ(c().walk(0, 1, {"missing"}).error(), uint32_t(ENOENT));
}

TEST_F(ServerTest, GetattrReportsTheHostStat) {
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"hello.txt"})), 1);
  auto r = c().getattr(1);
  ASSERT_EQ(r.type, kRgetattr);
  struct stat st {};
  ::lstat(host("hello.txt").c_str(), &st);
  auto b = r.body();
  EXPECT_EQ(b.u64(), kGetattrBasic);
  EXPECT_EQ(b.u8(), kQidFile);
  b.u32();
  EXPECT_EQ(b.u64(), st.st_ino);
  EXPECT_EQ(b.u32(), st.st_mode);
  EXPECT_EQ(b.u32(), st.st_uid);
  EXPECT_EQ(b.u32(), st.st_gid);
  EXPECT_EQ(b.u64(), st.st_nlink);
  b.u64();  // rdev
  EXPECT_EQ(b.u64(), 8u);  // size
  EXPECT_TRUE(b.ok());
}

TEST_F(ServerTest, LcreateWriteFsyncAndReadBack) {
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"dir"})), 1);
  auto cr = c().lcreate(1, "new.txt", O_RDWR | O_CREAT, 04755);
  ASSERT_EQ(cr.type, kRlcreate);
  auto w = c().write(1, 0, "written by the guest");
  ASSERT_EQ(w.type, kRwrite);
  EXPECT_EQ(w.body().u32(), 20u);
  EXPECT_EQ(c().call(Msg(kTfsync).u32(1).u32(0)).type, kRfsync);
  EXPECT_EQ(Client::data(c().read(1, 11, 100)), "the guest");
  EXPECT_EQ(host_text("dir/new.txt"), "written by the guest");
  struct stat st {};
  ::stat(host("dir/new.txt").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07000, 0u) << "setuid/setgid bits are never set on the host";
  // The fid now names the new file: a walk from it continues there.
  EXPECT_EQ(c().walk(1, 2, {"x"}).error(), uint32_t(ENOTDIR));
  EXPECT_EQ(c().lcreate(0, "hello.txt", O_RDWR | O_CREAT | O_EXCL).error(), uint32_t(EEXIST));
}

TEST_F(ServerTest, WriteNeedsAWritableOpenFid) {
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"hello.txt"})), 1);
  EXPECT_EQ(c().write(1, 0, "x").error(), uint32_t(EBADF)) << "not open";
  ASSERT_EQ(c().lopen(1, O_RDONLY).type, kRlopen);
  EXPECT_EQ(c().write(1, 0, "x").error(), uint32_t(EBADF)) << "open read-only";
  EXPECT_EQ(host_text("hello.txt"), "hello 9p");
}

TEST_F(ServerTest, ReaddirListsEveryEntryAcrossCalls) {
  for (int i = 0; i < 40; ++i) tmp_.write("share/dir/f" + std::to_string(i), {});
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"dir"})), 1);
  ASSERT_EQ(c().lopen(1, O_RDONLY | O_DIRECTORY).type, kRlopen);
  std::set<std::string> names;
  uint64_t off = 0;
  int calls = 0;
  for (;; ++calls) {
    auto r = c().readdir(1, off, 200);  // small: several calls needed
    ASSERT_EQ(r.type, kRreaddir) << r.error();
    auto b = r.body();
    uint32_t count = b.u32();
    ASSERT_LE(count, 200u);
    if (count == 0) break;
    auto data = b.bytes(count);
    Reader e(data);
    while (e.left() > 0) {
      e.u8();
      e.u32();
      e.u64();
      off = e.u64();
      e.u8();
      names.insert(e.str());
    }
    ASSERT_TRUE(e.ok());
  }
  EXPECT_GT(calls, 2);
  EXPECT_EQ(names.size(), 43u);  // . .. inner.txt f0..f39
  EXPECT_TRUE(names.count("inner.txt") && names.count("f39") && names.count(".."));
  EXPECT_EQ(c().readdir(0, 0, 100).error(), uint32_t(EBADF)) << "not open";
}

TEST_F(ServerTest, MkdirSymlinkReadlinkLinkMknod) {
  ASSERT_EQ(c().mkdir(0, "sub", 0750).type, kRmkdir);
  struct stat st {};
  ASSERT_EQ(::stat(host("sub").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  ASSERT_EQ(c().symlink(0, "ln", "/etc/passwd").type, kRsymlink);
  char buf[64] = {};
  EXPECT_EQ(::readlink(host("ln").c_str(), buf, sizeof buf), 11);
  EXPECT_STREQ(buf, "/etc/passwd");
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"ln"})), 1);
  auto rl = c().readlink(1);
  ASSERT_EQ(rl.type, kRreadlink);
  EXPECT_EQ(rl.body().str(), "/etc/passwd");
  // Tlink dfid fid name: a hard link to hello.txt.
  ASSERT_EQ(Client::walked(c().walk(0, 2, {"hello.txt"})), 1);
  ASSERT_EQ(c().call(Msg(kTlink).u32(0).u32(2).str("hard")).type, kRlink);
  EXPECT_EQ(host_text("hard"), "hello 9p");
  // Tmknod: a FIFO is fine, a device node is not.
  EXPECT_EQ(c().call(Msg(kTmknod).u32(0).str("fifo").u32(S_IFIFO | 0644).u32(0).u32(0).u32(0)).type, kRmknod);
  EXPECT_EQ(c().call(Msg(kTmknod).u32(0).str("null").u32(S_IFCHR | 0666).u32(1).u32(3).u32(0)).error(),
            uint32_t(EPERM));
  EXPECT_FALSE(host_exists("null"));
}

TEST_F(ServerTest, RenameatRenameAndFidsFollow) {
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"dir"})), 1);
  ASSERT_EQ(c().renameat(0, "dir", 0, "moved").type, kRrenameat);
  EXPECT_TRUE(host_exists("moved/inner.txt"));
  // fid 1 followed the rename: removing through it (by its path) works.
  ASSERT_EQ(Client::walked(c().walk(1, 2, {"inner.txt"})), 1);
  ASSERT_EQ(c().call(Msg(kTrename).u32(2).u32(0).str("top.txt")).type, kRrename);
  EXPECT_EQ(host_text("top.txt"), "inner");
  EXPECT_EQ(c().call(Msg(kTremove).u32(2)).type, kRremove);
  EXPECT_FALSE(host_exists("top.txt"));
  EXPECT_EQ(c().clunk(2).error(), uint32_t(EBADF)) << "remove clunks";
  EXPECT_EQ(c().call(Msg(kTremove).u32(1)).type, kRremove) << "an empty directory";
  EXPECT_FALSE(host_exists("moved"));
}

TEST_F(ServerTest, UnlinkatFilesAndDirectories) {
  EXPECT_EQ(c().unlinkat(0, "dir").error(), uint32_t(EISDIR));
  EXPECT_EQ(c().unlinkat(0, "dir", kDotlAtRemoveDir).error(), uint32_t(ENOTEMPTY));
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"dir"})), 1);
  EXPECT_EQ(c().unlinkat(1, "inner.txt").type, kRunlinkat);
  EXPECT_EQ(c().unlinkat(0, "dir", kDotlAtRemoveDir).type, kRunlinkat);
  EXPECT_FALSE(host_exists("dir"));
}

TEST_F(ServerTest, SetattrModeSizeAndTimes) {
  ASSERT_EQ(Client::walked(c().walk(0, 1, {"hello.txt"})), 1);
  auto set = [&](uint32_t valid, uint32_t mode, uint64_t size, uint64_t mtime) {
    return c().call(Msg(kTsetattr).u32(1).u32(valid).u32(mode).u32(0).u32(0).u64(size).u64(0).u64(0).u64(mtime).u64(0));
  };
  ASSERT_EQ(set(kAttrMode, 06600, 0, 0).type, kRsetattr);
  ASSERT_EQ(set(kAttrSize, 0, 5, 0).type, kRsetattr);
  ASSERT_EQ(set(kAttrMtime | kAttrMtimeSet, 0, 0, 1000000).type, kRsetattr);
  struct stat st {};
  ::stat(host("hello.txt").c_str(), &st);
  EXPECT_EQ(st.st_mode & 07777, 0600u) << "setuid/setgid dropped";
  EXPECT_EQ(st.st_size, 5);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000000);
  EXPECT_EQ(host_text("hello.txt"), "hello");
}

TEST_F(ServerTest, StatfsLockGetlockFlushAndUnsupportedOps) {
  auto s = c().call(Msg(kTstatfs).u32(0));
  ASSERT_EQ(s.type, kRstatfs);
  auto b = s.body();
  b.u32();
  EXPECT_GT(b.u32(), 0u);  // bsize
  auto l = c().call(Msg(kTlock).u32(0).u8(0).u32(0).u64(0).u64(10).u32(42).str("guest"));
  ASSERT_EQ(l.type, kRlock);
  EXPECT_EQ(l.body().u8(), kLockSuccess);
  auto g = c().call(Msg(kTgetlock).u32(0).u8(0).u64(5).u64(10).u32(42).str("guest"));
  ASSERT_EQ(g.type, kRgetlock);
  auto gb = g.body();
  EXPECT_EQ(gb.u8(), kLockTypeUnlock);
  EXPECT_EQ(gb.u64(), 5u);
  EXPECT_EQ(c().call(Msg(kTflush).u16(3)).type, kRflush);
  EXPECT_EQ(c().call(Msg(kTxattrwalk).u32(0).u32(1).str("user.x")).error(), uint32_t(EOPNOTSUPP));
  EXPECT_EQ(c().call(Msg(kTxattrcreate).u32(0).str("user.x").u64(1).u32(0)).error(), uint32_t(EOPNOTSUPP));
  EXPECT_EQ(c().call(Msg(kTauth).u32(1).str("u").str("")).error(), uint32_t(EOPNOTSUPP));
  EXPECT_EQ(c().call(Msg(124).u32(0)).error(), uint32_t(EOPNOTSUPP)) << "legacy Tstat";
  EXPECT_EQ(c().call(Msg(200)).error(), uint32_t(EOPNOTSUPP));
}

}  // namespace
}  // namespace amber::virtio::p9::testing
