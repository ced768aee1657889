#include "api/protocol.h"

#include <gtest/gtest.h>

#include "api/json.h"

namespace amber::api {
namespace {

TEST(Protocol, ParsesEveryCommand) {
  EXPECT_EQ(parse_request(R"({"cmd":"status"})").cmd, Cmd::kStatus);
  EXPECT_EQ(parse_request(R"({"cmd":"pause"})").cmd, Cmd::kPause);
  EXPECT_EQ(parse_request(R"({"cmd":"resume"})").cmd, Cmd::kResume);
  EXPECT_EQ(parse_request(R"({"cmd":"stop"})").cmd, Cmd::kStop);
  EXPECT_EQ(parse_request(R"({"cmd":"reset"})").cmd, Cmd::kReset);
  auto s = parse_request(R"({"path":"x.amber","cmd":"save","compress":true,"then":"exit"})");
  EXPECT_EQ(s.cmd, Cmd::kSave);
  EXPECT_EQ(s.path, "x.amber");
  EXPECT_TRUE(s.compress);
  EXPECT_TRUE(s.then_exit);
  auto d = parse_request(R"({"cmd":"save","path":"y"})");
  EXPECT_FALSE(d.compress);
  EXPECT_FALSE(d.then_exit);  // continue by default
}

TEST(Protocol, RejectsBadRequestsWithAMessage) {
  const char* bad[] = {
      R"({})", R"({"cmd":1})", R"({"cmd":"reboot"})", R"({"cmd":"STATUS"})", R"({"cmd":"status","x":1})",
      R"({"cmd":"pause","path":"p"})", R"({"cmd":"save"})", R"({"cmd":"save","path":""})",
      R"({"cmd":"save","path":5})", R"({"cmd":"save","path":"p","compress":"yes"})",
      R"({"cmd":"save","path":"p","then":"later"})", R"({"cmd":"save","path":"p","then":true})",
      R"({"cmd":"save","path":"p","force":true})", "not json",
  };
  for (const char* s : bad) {
    try {
      parse_request(s);
      ADD_FAILURE() << "accepted " << s;
    } catch (const JsonError& e) {
      EXPECT_NE(std::string(e.what()), "") << s;
    }
  }
}

TEST(Protocol, CtlArgumentsBecomeARequest) {
  std::string line = request_from_args("save", {{"path", "/tmp/x \"y\".amber"}, {"compress", "true"}, {"then", "exit"}});
  EXPECT_EQ(line, R"({"cmd":"save","path":"/tmp/x \"y\".amber","compress":true,"then":"exit"})");
  auto r = parse_request(line);
  EXPECT_EQ(r.path, "/tmp/x \"y\".amber");
  EXPECT_TRUE(r.compress);
  EXPECT_TRUE(r.then_exit);
}

TEST(Protocol, ErrorAnswerIsValidJson) {
  auto o = parse_json_object(error_answer("bad \"thing\"\n"));
  EXPECT_EQ(std::get<bool>(*o.find("ok")), false);
  EXPECT_EQ(std::get<std::string>(*o.find("error")), "bad \"thing\"\n");
}

}  // namespace
}  // namespace amber::api
