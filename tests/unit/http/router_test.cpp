#include "iotd/http/router.hpp"

#include <gtest/gtest.h>

namespace iotd::http {
namespace {

Handler noop() {
  return [](const Request&, const PathParams&, Respond) {};
}

Router sample_router() {
  Router r;
  r.add("GET", "/api/v1/health", Exec::io, noop());
  r.add("GET", "/api/v1/readings", Exec::blocking, noop());
  r.add("GET", "/api/v1/readings/latest", Exec::io, noop());
  r.add("GET", "/api/v1/alerts/{id}", Exec::blocking, noop());
  r.add("POST", "/api/v1/alerts/{id}/ack", Exec::blocking, noop());
  r.add("GET", "/api/v1/devices/{id}/history", Exec::blocking, noop());
  r.add("GET", "/api/v1/devices/stats", Exec::blocking, noop());
  r.add("DELETE", "/api/v1/devices/{id}", Exec::blocking, noop());
  r.add("GET", "/", Exec::io, noop());
  return r;
}

TEST(Router, MatchesLiteralPaths) {
  auto r = sample_router();
  auto m = r.match("GET", "/api/v1/health");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/api/v1/health");
  EXPECT_EQ(m.route->exec, Exec::io);
  EXPECT_EQ(m.status, 200);
}

TEST(Router, MatchesRoot) {
  auto r = sample_router();
  auto m = r.match("GET", "/");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/");
}

TEST(Router, ExtractsPathParameters) {
  auto r = sample_router();
  auto m = r.match("POST", "/api/v1/alerts/42/ack");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/api/v1/alerts/{id}/ack");
  EXPECT_EQ(m.params.at("id"), "42");
}

TEST(Router, LiteralSegmentBeatsParameter) {
  auto r = sample_router();
  auto m = r.match("GET", "/api/v1/devices/stats");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/api/v1/devices/stats");
  auto h = r.match("GET", "/api/v1/devices/dev-1/history");
  ASSERT_NE(h.route, nullptr);
  EXPECT_EQ(h.params.at("id"), "dev-1");
}

TEST(Router, UnknownPathIs404) {
  auto r = sample_router();
  auto m = r.match("GET", "/api/v1/nothing");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.status, 404);
  EXPECT_EQ(r.match("GET", "/api/v1/alerts/1/ack/extra").status, 404);
  EXPECT_EQ(r.match("GET", "/api/v1").status, 404);
}

TEST(Router, KnownPathWithOtherMethodIs405WithAllow) {
  auto r = sample_router();
  auto m = r.match("PUT", "/api/v1/devices/abc");
  EXPECT_EQ(m.route, nullptr);
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "DELETE");
  auto ack = r.match("GET", "/api/v1/alerts/1/ack");
  EXPECT_EQ(ack.status, 405);
  EXPECT_EQ(ack.allow, "POST");
}

TEST(Router, AllowListsEveryMethodOnceForThePath) {
  Router r;
  r.add("GET", "/x/{id}", Exec::io, noop());
  r.add("PUT", "/x/{id}", Exec::io, noop());
  r.add("PATCH", "/x/{id}", Exec::io, noop());
  r.add("GET", "/x/{other}", Exec::io, noop());
  auto m = r.match("POST", "/x/1");
  EXPECT_EQ(m.status, 405);
  EXPECT_EQ(m.allow, "GET, PUT, PATCH");
}

TEST(Router, TrailingSlashIsIgnored) {
  auto r = sample_router();
  auto m = r.match("GET", "/api/v1/health/");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->pattern, "/api/v1/health");
  auto p = r.match("GET", "/api/v1/alerts/7/");
  ASSERT_NE(p.route, nullptr);
  EXPECT_EQ(p.params.at("id"), "7");
}

TEST(Router, EmptySegmentsDoNotMatchParameters) {
  auto r = sample_router();
  EXPECT_EQ(r.match("GET", "/api/v1/alerts//").status, 404);
  EXPECT_EQ(r.match("GET", "/api//v1/health").status, 404);
  EXPECT_EQ(r.match("POST", "/api/v1/alerts//ack").status, 404);
}

TEST(Router, HeadFallsBackToGet) {
  auto r = sample_router();
  auto m = r.match("HEAD", "/api/v1/readings/latest");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.route->method, "GET");
}

TEST(Router, MethodIsCaseSensitive) {
  auto r = sample_router();
  EXPECT_EQ(r.match("get", "/api/v1/health").status, 405);
}

TEST(Router, RejectsMalformedPatterns) {
  Router r;
  EXPECT_THROW(r.add("GET", "api/v1", Exec::io, noop()), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/a/{id", Exec::io, noop()), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/a/{}", Exec::io, noop()), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/a//b", Exec::io, noop()), std::invalid_argument);
  EXPECT_THROW(r.add("GET", "/a/x{id}", Exec::io, noop()), std::invalid_argument);
  EXPECT_NO_THROW(r.add("GET", "/a/{id}/", Exec::io, noop()));
}

TEST(Router, VeryDeepPathsAreNotFound) {
  auto r = sample_router();
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "/a";
  EXPECT_EQ(r.match("GET", deep).status, 404);
}

TEST(Request, ParamAndHeaderLookups) {
  Request req;
  req.query = {{"a", "1"}, {"b", "x y"}};
  req.headers = {{"x-api-key", "k"}};
  EXPECT_EQ(req.param("a"), "1");
  EXPECT_EQ(req.param("b"), "x y");
  EXPECT_FALSE(req.param("c").has_value());
  EXPECT_EQ(req.header("x-api-key"), "k");
  EXPECT_FALSE(req.header("authorization").has_value());
}

TEST(PercentDecode, DecodesEscapes) {
  EXPECT_EQ(percent_decode("a%20b%2Fc", false), "a b/c");
  EXPECT_EQ(percent_decode("%e2%82%ac", false), "\xe2\x82\xac");
  EXPECT_EQ(percent_decode("a+b", false), "a+b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("", true), "");
}

TEST(PercentDecode, RejectsMalformedEscapes) {
  EXPECT_FALSE(percent_decode("%", false));
  EXPECT_FALSE(percent_decode("%4", false));
  EXPECT_FALSE(percent_decode("abc%", false));
  EXPECT_FALSE(percent_decode("%zz", false));
  EXPECT_FALSE(percent_decode("%g0", false));
}

TEST(ParseQueryString, SplitsAndDecodesPairs) {
  auto q = parse_query_string("device_id=esp%3A01&from=-24h&note=a+b&flag&empty=");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->find("device_id")->second, "esp:01");
  EXPECT_EQ(q->find("from")->second, "-24h");
  EXPECT_EQ(q->find("note")->second, "a b");
  EXPECT_EQ(q->find("flag")->second, "");
  EXPECT_EQ(q->find("empty")->second, "");
}

TEST(ParseQueryString, KeepsRepeatedKeysInOrder) {
  auto q = parse_query_string("m=a&m=b&&m=c");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->count("m"), 3u);
  auto range = q->equal_range("m");
  std::vector<std::string> values;
  for (auto it = range.first; it != range.second; ++it) values.push_back(it->second);
  EXPECT_EQ(values, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(ParseQueryString, EmptyAndMalformed) {
  auto empty = parse_query_string("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  EXPECT_FALSE(parse_query_string("a=%zz"));
  EXPECT_FALSE(parse_query_string("%=1"));
  auto only_value = parse_query_string("=x");
  ASSERT_TRUE(only_value);
  EXPECT_TRUE(only_value->empty());
}

TEST(JsonString, EscapesQuotesBackslashesAndControls) {
  std::string out;
  append_json_string(out, "a\"b\\c\nd\te\x01");
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
}

TEST(JsonString, KeepsValidUtf8AndReplacesInvalid) {
  std::string out;
  append_json_string(out, "\xc3\xa9t\xc3\xa9 \xf0\x9f\x8c\xa1");
  EXPECT_EQ(out, "\"\xc3\xa9t\xc3\xa9 \xf0\x9f\x8c\xa1\"");
  out.clear();
  append_json_string(out, "a\xff" "b\xc3");
  EXPECT_EQ(out, "\"a\\ufffdb\\ufffd\"");
  out.clear();
  append_json_string(out, "\xed\xa0\x80");  // a UTF-16 surrogate encoded in UTF-8
  EXPECT_EQ(out, "\"\\ufffd\\ufffd\\ufffd\"");
}

TEST(ErrorResponse, HasTheContractShape) {
  auto r = error_response(400, "invalid_parameter", "limit must be an integer from 1 to 10000");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body,
            "{\"error\":{\"code\":\"invalid_parameter\",\"message\":\"limit must be an integer "
            "from 1 to 10000\"}}");
}

}  // namespace
}  // namespace iotd::http
