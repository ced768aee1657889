#include "api/json.h"

#include <gtest/gtest.h>

namespace amber::api {
namespace {

TEST(Json, ParsesAFlatObject) {
  auto o = parse_json_object(R"( {"cmd":"save", "path":"/tmp/x y.amber","compress":true,"n":-12.5e1} )");
  ASSERT_EQ(o.members.size(), 4u);
  EXPECT_EQ(std::get<std::string>(*o.find("cmd")), "save");
  EXPECT_EQ(std::get<std::string>(*o.find("path")), "/tmp/x y.amber");
  EXPECT_EQ(std::get<bool>(*o.find("compress")), true);
  EXPECT_EQ(std::get<double>(*o.find("n")), -125.0);
  EXPECT_EQ(o.find("missing"), nullptr);
  EXPECT_TRUE(parse_json_object("{}").members.empty());
}

TEST(Json, DecodesEscapesAndSurrogatePairs) {
  auto o = parse_json_object(R"({"s":"a\"b\\c\/d\n\t\u00e9\ud83d\ude00"})");
  EXPECT_EQ(std::get<std::string>(*o.find("s")), "a\"b\\c/d\n\t\xc3\xa9\xf0\x9f\x98\x80");
  auto raw = parse_json_object("{\"s\":\"\xc3\xa9\xe2\x82\xac\"}");  // raw UTF-8 is fine
  EXPECT_EQ(std::get<std::string>(*raw.find("s")), "\xc3\xa9\xe2\x82\xac");
}

TEST(Json, RejectsHostileAndUnsupportedInput) {
  const char* bad[] = {
      "", " ", "[]", "\"x\"", "1", "null", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}",
      "{\"a\":1}x", "{\"a\":1}{}", "{a:1}", "{'a':1}", "{\"a\":[1]}", "{\"a\":{}}", "{\"a\":null}",
      "{\"a\":tru}", "{\"a\":True}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":-}",
      "{\"a\":1e}", "{\"a\":1e999}", "{\"a\":NaN}", "{\"a\":Infinity}", "{\"a\":0x10}",
      "{\"a\":1,\"a\":2}",                      // duplicate key
      "{\"a\":\"x}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\u12g4\"}",
      "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}", "{\"a\":\"\\ud800\\u0041\"}",  // surrogates
      "{\"a\":\"\\u0000\"}",                    // NUL
      "{\"a\":\"tab\there\"}",                  // raw control character
      "{\"a\":\"\xff\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}",
      "{\"a\":\"\xe2\x82\"}",                   // truncated UTF-8
  };
  for (const char* s : bad) EXPECT_THROW(parse_json_object(s), JsonError) << s;
  EXPECT_THROW(parse_json_object(std::string("{\"a\":1\0}", 8)), JsonError);
}

TEST(Json, DeepNestingAndHugeInputFailCleanly) {
  EXPECT_THROW(parse_json_object("{\"a\":" + std::string(100000, '[')), JsonError);
  std::string many = "{";
  for (int i = 0; i < 100; ++i) many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":1";
  EXPECT_THROW(parse_json_object(many + "}"), JsonError);  // more than kJsonMaxMembers
  std::string big = "{\"a\":\"" + std::string(1 << 20, 'x') + "\"}";
  EXPECT_EQ(std::get<std::string>(*parse_json_object(big).find("a")).size(), size_t(1) << 20);
}

TEST(Json, EveryTruncationOfAValidRequestIsRejected) {
  std::string ok = R"({"cmd":"save","path":"/tmp/\u00e9.amber","compress":false,"n":1.5e3})";
  for (size_t n = 0; n < ok.size(); ++n) EXPECT_THROW(parse_json_object(ok.substr(0, n)), JsonError) << n;
  EXPECT_NO_THROW(parse_json_object(ok));
}

TEST(Json, RefusesWhatTheLibraryWouldLetThrough) {
  // nlohmann reads NUL as the end of input, skips a byte order mark, keeps the
  // last of duplicate keys and reads an underflowing number as 0.
  EXPECT_THROW(parse_json_object(std::string("{\"a\":1}\0{}", 10)), JsonError);
  EXPECT_THROW(parse_json_object("\xef\xbb\xbf{\"a\":1}"), JsonError);
  EXPECT_THROW(parse_json_object("{\"a\":\"x\",\"b\":1,\"a\":\"y\"}"), JsonError);
  EXPECT_THROW(parse_json_object("{\"\\u0000\":1}"), JsonError);  // NUL in a key
  EXPECT_THROW(parse_json_object("{\"a\":1e-400}"), JsonError);
  EXPECT_THROW(parse_json_object("{\"a\":0." + std::string(400, '0') + "1}"), JsonError);
  EXPECT_THROW(parse_json_object("{\"a\":1} /* c */"), JsonError);
  EXPECT_EQ(std::get<double>(*parse_json_object("{\"a\":0e-999}").find("a")), 0.0);
  EXPECT_EQ(std::get<double>(*parse_json_object("{\"a\":-9223372036854775809}").find("a")), -9223372036854775808.0);
}

TEST(Json, ErrorsAreShortAndNameTheByte) {
  auto what = [](std::string_view s) {
    try {
      parse_json_object(s);
    } catch (const JsonError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(what("{\"a\":tru}"), "invalid JSON at byte 8: syntax error while parsing value - invalid literal");
  EXPECT_EQ(what("{\"a\":1,\"a\":2}"), "invalid JSON: duplicate key \"a\"");
  EXPECT_EQ(what("{\"a\":[1]}"), "invalid JSON: nested objects and arrays are not supported");
  EXPECT_EQ(what("[]"), "invalid JSON: a request must be a JSON object");
  // The unterminated 60 KiB string is not echoed back.
  EXPECT_LT(what("{\"a\":\"" + std::string(60000, 'x')).size(), 300u);
}

TEST(Json, QuoteEscapesAndRepairsInvalidUtf8) {
  EXPECT_EQ(json_quote("a\"b\\\n\x01"), "\"a\\\"b\\\\\\n\\u0001\"");
  EXPECT_EQ(json_quote("\xff" "ok"), "\"\xef\xbf\xbdok\"");
  EXPECT_EQ(json_quote("\xc3\xa9"), "\"\xc3\xa9\"");
  EXPECT_EQ(json_quote(std::string("\0\b\f\r\t", 5)), "\"\\u0000\\b\\f\\r\\t\"");
  EXPECT_EQ(json_quote("\xe2\x82" "x"), "\"\xef\xbf\xbdx\"");  // a truncated sequence is one U+FFFD
}

TEST(Json, WriterRoundTripsThroughTheParser) {
  std::string s = JsonWriter().boolean("ok", true).str("path", "x\"y").uint("bytes", 123).num("ms", 12.5).done();
  EXPECT_EQ(s, R"({"ok":true,"path":"x\"y","bytes":123,"ms":12.5})");
  auto o = parse_json_object(s);
  EXPECT_EQ(std::get<std::string>(*o.find("path")), "x\"y");
  EXPECT_EQ(JsonWriter().num("a", 3.0).num("b", 0.0004).done(), R"({"a":3,"b":0})");
  EXPECT_EQ(JsonWriter().raw("d", "[]").done(), R"({"d":[]})");
}

}  // namespace
}  // namespace amber::api
