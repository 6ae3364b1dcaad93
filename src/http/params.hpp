// Query-parameter validation for the REST API (docs/architecture.md §11): pure functions from a Request
// to a repository query, or an ApiError saying what to fix. No I/O; unit tested directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "iotd/core/text.hpp"
#include "iotd/http/router.hpp"
#include "iotd/storage/types.hpp"

namespace iotd::http::api {

// A client error; rendered in the v1 shape by to_response() or in a seed's shape by the
// compatibility routes.
struct ApiError {
  int status = 400;
  std::string code;     // "invalid_parameter", "not_found", "unauthorized", ...
  std::string message;  // says what to fix
  Response to_response() const;
};

template <class T>
using Parsed = tl::expected<T, ApiError>;

ApiError bad_param(std::string message);

using text::valid_device_id;    // [A-Za-z0-9_.:-]{1,64}
using text::valid_metric_name;  // [A-Za-z0-9_.-]{1,64}

// Whole-string decimal integer (optional '-'); nullopt on anything else or overflow.
std::optional<std::int64_t> parse_int(std::string_view s);

// The first non-empty value among `names` (aliases), with the name it came from.
struct NamedValue {
  std::string name;
  std::string value;
};
std::optional<NamedValue> first_param(const Request& req,
                                      std::initializer_list<std::string_view> names);

// Absent or empty -> `def`; else an integer in [min, max] or an error naming the range.
Parsed<std::int64_t> int_param(const Request& req, std::string_view name, std::int64_t min,
                               std::int64_t max, std::int64_t def);
// device_id: the path's {id} when present, else the query's device_id (absent/empty ->
// nullopt).
Parsed<std::optional<std::string>> device_param(const Request& req, const PathParams& path);
Parsed<std::optional<std::string>> metric_param(const Request& req);
// ISO 8601, epoch s/ms, relative ("-24h"), "now"; absent/empty -> nullopt.
Parsed<std::optional<std::int64_t>> time_param(const Request& req,
                                               std::initializer_list<std::string_view> names,
                                               std::int64_t now);
// true/false/1/0/yes/no; absent/empty -> nullopt.
Parsed<std::optional<bool>> bool_param(const Request& req, std::string_view name);

// Opaque keyset token for `next`/`before`: "<ts>_<id>" in lower-case hex (ts may carry a
// leading '-').
std::string encode_cursor(const storage::Cursor& c);
std::optional<storage::Cursor> decode_cursor(std::string_view token);

struct TimeRange {
  std::optional<std::int64_t> from, to;
};
// from/to (aliases start/end), from < to when both are given.
Parsed<TimeRange> range_params(const Request& req, std::int64_t now);

// GET /api/v1/readings and /api/v1/devices/{id}/history.
Parsed<storage::ReadingQuery> parse_readings_query(const Request& req, const PathParams& path,
                                                   std::int64_t now);
// GET /api/v1/stats.
Parsed<storage::StatsQuery> parse_stats_query(const Request& req, const PathParams& path,
                                              std::int64_t now);

// GET /api/v1/aggregate and /api/v1/devices/{id}/aggregate.
inline constexpr std::int64_t kMaxBuckets = 10'000;
struct AggregateParams {
  storage::AggregateQuery query;
  std::string interval;  // as given, e.g. "5m"
};
Parsed<AggregateParams> parse_aggregate_query(const Request& req, const PathParams& path,
                                              std::int64_t now);

// GET /api/v1/export.
enum class ExportFormat { columnar, csv, ndjson };
inline constexpr std::int64_t kColumnarMaxLimit = 100'000;
inline constexpr std::int64_t kColumnarDefaultLimit = 1'000;
inline constexpr std::int64_t kStreamMaxLimit = 10'000'000;
inline constexpr std::int64_t kStreamDefaultLimit = 1'000'000;
struct ExportParams {
  ExportFormat format = ExportFormat::columnar;
  std::optional<std::string> device_id, metric;
  TimeRange range;
  std::int64_t limit = kColumnarDefaultLimit;
};
Parsed<ExportParams> parse_export_query(const Request& req, std::int64_t now);

// GET /api/v1/alerts (and /api/devices/{id}/alerts with the path's device).
Parsed<storage::AlertQuery> parse_alerts_query(const Request& req, const PathParams& path,
                                               std::int64_t now);
// GET /api/v1/rejects.
Parsed<storage::RejectQuery> parse_rejects_query(const Request& req);

// A positive integer id from a path segment.
std::optional<std::int64_t> parse_id(std::string_view s);

// Seed 002 ml-data column names: gas -> gases, box -> boxes, temperature -> temperatures.
std::string metric_plural(std::string_view metric);

}  // namespace iotd::http::api
