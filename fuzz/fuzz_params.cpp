// Fuzz target: the REST query-parameter parser (src/http/params.cpp) behind the query-string
// splitter (router.cpp). Input: "<path {id}>\n<query string>" (no newline: the whole input
// is the query string). Every parse_* function sees the same request. Checks, beyond "no
// crash, no UB": an error is a 4xx with a code and a message; a valid cursor token decodes
// to a cursor that encodes and decodes to the same cursor; limits stay within their bounds.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/params.hpp"

namespace {

using namespace iotd::http;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_params: %s\n", what);
  std::abort();
}

template <class T>
void check(const api::Parsed<T>& p) {
  if (p) return;
  const auto& e = p.error();
  if (e.status < 400 || e.status > 499 || e.code.empty() || e.message.empty()) fail("malformed ApiError");
  const Response r = e.to_response();
  if (r.status != e.status || r.body.find("\"error\"") == std::string::npos) fail("error response without an error body");
}

constexpr std::int64_t kNow = 1'769'644'800'000;  // 2026-01-29T00:00:00Z

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  PathParams path;
  if (const auto nl = in.find('\n'); nl != std::string_view::npos) {
    path["id"] = std::string(in.substr(0, nl));
    in.remove_prefix(nl + 1);
  }
  auto query = parse_query_string(in);
  if (!query) return 0;
  Request req;
  req.method = "GET";
  req.path = "/api/v1/readings";
  req.query = std::move(*query);

  const auto readings = api::parse_readings_query(req, path, kNow);
  check(readings);
  if (readings && (readings->limit < 1 || readings->limit > 10'000)) fail("readings limit out of range");
  check(api::parse_stats_query(req, path, kNow));
  const auto agg = api::parse_aggregate_query(req, path, kNow);
  check(agg);
  check(api::parse_export_query(req, kNow));
  check(api::parse_alerts_query(req, path, kNow));
  check(api::parse_rejects_query(req));
  check(api::range_params(req, kNow));
  check(api::bool_param(req, "purge"));
  check(api::int_param(req, "limit", 1, 1000, 100));

  for (const auto& [name, value] : req.query) {
    if (const auto c = api::decode_cursor(value)) {
      const auto again = api::decode_cursor(api::encode_cursor(*c));
      if (!again || again->ts != c->ts || again->id != c->id) fail("cursor round trip changed the cursor");
    }
    (void)api::parse_id(value);
    (void)api::parse_int(value);
    (void)api::metric_plural(value);
    (void)percent_decode(value, true);
  }
  return 0;
}
