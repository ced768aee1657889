#pragma once
// 9P2000.L message types and constants, as the Linux v9fs client speaks
// them (include/net/9p/9p.h; the protocol is described in the diod project's
// protocol.md and QEMU's docs/interop/9p). Every message is
//   size[4] type[1] tag[2] body...
// little-endian, with strings as len[2] bytes (no NUL) and qids as
// type[1] version[4] path[8].
#include <cstdint>

namespace amber::virtio::p9 {

enum MsgType : uint8_t {
  kTlerror = 6, kRlerror = 7,
  kTstatfs = 8, kRstatfs = 9,
  kTlopen = 12, kRlopen = 13,
  kTlcreate = 14, kRlcreate = 15,
  kTsymlink = 16, kRsymlink = 17,
  kTmknod = 18, kRmknod = 19,
  kTrename = 20, kRrename = 21,
  kTreadlink = 22, kRreadlink = 23,
  kTgetattr = 24, kRgetattr = 25,
  kTsetattr = 26, kRsetattr = 27,
  kTxattrwalk = 30, kRxattrwalk = 31,
  kTxattrcreate = 32, kRxattrcreate = 33,
  kTreaddir = 40, kRreaddir = 41,
  kTfsync = 50, kRfsync = 51,
  kTlock = 52, kRlock = 53,
  kTgetlock = 54, kRgetlock = 55,
  kTlink = 70, kRlink = 71,
  kTmkdir = 72, kRmkdir = 73,
  kTrenameat = 74, kRrenameat = 75,
  kTunlinkat = 76, kRunlinkat = 77,
  kTversion = 100, kRversion = 101,
  kTauth = 102, kRauth = 103,
  kTattach = 104, kRattach = 105,
  kTflush = 108, kRflush = 109,
  kTwalk = 110, kRwalk = 111,
  kTread = 116, kRread = 117,
  kTwrite = 118, kRwrite = 119,
  kTclunk = 120, kRclunk = 121,
  kTremove = 122, kRremove = 123,
};

inline constexpr uint32_t kHeaderSize = 7;  // size[4] type[1] tag[2]
inline constexpr uint16_t kNoTag = 0xffff;
inline constexpr uint32_t kNoFid = 0xffffffff;
inline constexpr uint16_t kMaxWalkNames = 16;  // MAXWELEM (intro(5) / walk(5))
inline constexpr uint32_t kQidSize = 13;

// Qid types (the high byte of a Plan 9 mode).
inline constexpr uint8_t kQidDir = 0x80;
inline constexpr uint8_t kQidSymlink = 0x02;
inline constexpr uint8_t kQidFile = 0x00;

// Tgetattr request_mask / Rgetattr valid (P9_GETATTR_*).
inline constexpr uint64_t kGetattrBasic = 0x000007ff;  // mode..blocks: what a stat(2) gives

// Tsetattr valid (P9_ATTR_*).
inline constexpr uint32_t kAttrMode = 0x1, kAttrUid = 0x2, kAttrGid = 0x4, kAttrSize = 0x8;
inline constexpr uint32_t kAttrAtime = 0x10, kAttrMtime = 0x20, kAttrCtime = 0x40;
inline constexpr uint32_t kAttrAtimeSet = 0x80, kAttrMtimeSet = 0x100;

// Tlopen / Tlcreate flags (P9_DOTL_*): the Linux x86 open(2) values.
inline constexpr uint32_t kDotlAccMode = 03, kDotlCreate = 0100, kDotlExcl = 0200, kDotlTrunc = 01000;
inline constexpr uint32_t kDotlAppend = 02000, kDotlDsync = 010000, kDotlDirectory = 0200000;
inline constexpr uint32_t kDotlSync = 04000000;

// Tunlinkat flags (P9_DOTL_AT_REMOVEDIR).
inline constexpr uint32_t kDotlAtRemoveDir = 0x200;

// Rlock status and Tgetlock types (P9_LOCK_*).
inline constexpr uint8_t kLockSuccess = 0;
inline constexpr uint8_t kLockTypeUnlock = 2;

struct Qid {
  uint8_t type = 0;
  uint32_t version = 0;
  uint64_t path = 0;
  bool operator==(const Qid&) const = default;
};

}  // namespace amber::virtio::p9
