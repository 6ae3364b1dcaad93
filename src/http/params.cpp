#include "params.hpp"

#include <array>
#include <charconv>
#include <limits>

#include "iotd/core/time.hpp"

namespace iotd::http::api {
namespace {

constexpr std::int64_t kMaxOffset = 10'000'000;

using text::lower;

std::string range_message(std::string_view name, std::int64_t min, std::int64_t max) {
  return std::string(name) + " must be an integer from " + std::to_string(min) + " to " +
         std::to_string(max);
}

Parsed<std::int64_t> offset_param(const Request& req) {
  auto v = req.param("offset");
  if (!v || v->empty()) return 0;
  auto n = parse_int(*v);
  if (!n || *n < 0 || *n > kMaxOffset)
    return tl::unexpected(bad_param("offset must be an integer from 0 to " +
                                    std::to_string(kMaxOffset) +
                                    "; page deeper with before=<next>"));
  return *n;
}

struct Interval {
  std::string_view name;
  std::int64_t ms;
};
constexpr std::array<Interval, 10> kIntervals{{{"1m", 60'000},
                                               {"5m", 300'000},
                                               {"10m", 600'000},
                                               {"15m", 900'000},
                                               {"30m", 1'800'000},
                                               {"1h", 3'600'000},
                                               {"2h", 7'200'000},
                                               {"6h", 21'600'000},
                                               {"12h", 43'200'000},
                                               {"1d", 86'400'000}}};

}  // namespace

Response ApiError::to_response() const { return error_response(status, code, message); }

ApiError bad_param(std::string message) {
  return ApiError{400, "invalid_parameter", std::move(message)};
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<NamedValue> first_param(const Request& req,
                                      std::initializer_list<std::string_view> names) {
  for (auto name : names) {
    auto it = req.query.find(std::string(name));
    if (it != req.query.end() && !it->second.empty()) return NamedValue{it->first, it->second};
  }
  return std::nullopt;
}

Parsed<std::int64_t> int_param(const Request& req, std::string_view name, std::int64_t min,
                               std::int64_t max, std::int64_t def) {
  auto v = req.param(std::string(name));
  if (!v || v->empty()) return def;
  auto n = parse_int(*v);
  if (!n || *n < min || *n > max) return tl::unexpected(bad_param(range_message(name, min, max)));
  return *n;
}

Parsed<std::optional<std::string>> device_param(const Request& req, const PathParams& path) {
  if (auto it = path.find("id"); it != path.end()) {
    if (!valid_device_id(it->second))
      return tl::unexpected(bad_param(
          "device id in the path must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
    return std::optional<std::string>(it->second);
  }
  auto v = req.param("device_id");
  if (!v || v->empty()) return std::optional<std::string>();
  if (!valid_device_id(*v))
    return tl::unexpected(bad_param("device_id must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
  return std::optional<std::string>(std::move(*v));
}

Parsed<std::optional<std::string>> metric_param(const Request& req) {
  auto v = req.param("metric");
  if (!v || v->empty()) return std::optional<std::string>();
  if (!valid_metric_name(*v))
    return tl::unexpected(bad_param("metric must be 1-64 characters of A-Z a-z 0-9 _ . -"));
  return std::optional<std::string>(std::move(*v));
}

Parsed<std::optional<std::int64_t>> time_param(const Request& req,
                                               std::initializer_list<std::string_view> names,
                                               std::int64_t now) {
  auto v = first_param(req, names);
  if (!v) return std::optional<std::int64_t>();
  auto t = time::parse_query_time_ms(v->value, now);
  if (!t)
    return tl::unexpected(bad_param(
        v->name + " must be an ISO 8601 time (2026-01-29T14:30:00Z), epoch seconds or "
                  "milliseconds, or relative like -24h, -15m or now"));
  return std::optional<std::int64_t>(*t);
}

Parsed<std::optional<bool>> bool_param(const Request& req, std::string_view name) {
  auto v = req.param(std::string(name));
  if (!v || v->empty()) return std::optional<bool>();
  auto l = lower(*v);
  if (l == "true" || l == "1" || l == "yes") return std::optional<bool>(true);
  if (l == "false" || l == "0" || l == "no") return std::optional<bool>(false);
  return tl::unexpected(bad_param(std::string(name) + " must be true or false"));
}

std::string encode_cursor(const storage::Cursor& c) {
  char buf[48];
  char* p = buf;
  std::uint64_t ts = c.ts < 0 ? static_cast<std::uint64_t>(-(c.ts + 1)) + 1
                              : static_cast<std::uint64_t>(c.ts);
  if (c.ts < 0) *p++ = '-';
  p = std::to_chars(p, buf + sizeof buf, ts, 16).ptr;
  *p++ = '_';
  p = std::to_chars(p, buf + sizeof buf, static_cast<std::uint64_t>(c.id), 16).ptr;
  return std::string(buf, p);
}

std::optional<storage::Cursor> decode_cursor(std::string_view token) {
  auto us = token.find('_');
  if (us == std::string_view::npos || token.size() > 40) return std::nullopt;
  std::string_view ts_part = token.substr(0, us), id_part = token.substr(us + 1);
  bool neg = !ts_part.empty() && ts_part.front() == '-';
  if (neg) ts_part.remove_prefix(1);
  auto hex = [](std::string_view s, std::uint64_t& out) {
    if (s.empty() || s.size() > 16) return false;
    for (char c : s)
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), out, 16);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
  };
  std::uint64_t ts = 0, id = 0;
  if (!hex(ts_part, ts) || !hex(id_part, id)) return std::nullopt;
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (id > kMax || ts > kMax + (neg ? 1 : 0)) return std::nullopt;
  storage::Cursor c;
  c.ts = neg ? -static_cast<std::int64_t>(ts - 1) - 1 : static_cast<std::int64_t>(ts);
  c.id = static_cast<std::int64_t>(id);
  return c;
}

Parsed<TimeRange> range_params(const Request& req, std::int64_t now) {
  TimeRange r;
  auto from = time_param(req, {"from", "start"}, now);
  if (!from) return tl::unexpected(from.error());
  auto to = time_param(req, {"to", "end"}, now);
  if (!to) return tl::unexpected(to.error());
  r.from = *from;
  r.to = *to;
  if (r.from && r.to && *r.from >= *r.to)
    return tl::unexpected(bad_param("from must be earlier than to (from is inclusive, to exclusive)"));
  return r;
}

// device_id (query or path), metric and from/to: the filters readings and stats share.
template <class Query>
std::optional<ApiError> fill_filters(Query& q, const Request& req, const PathParams& path,
                                     std::int64_t now) {
  auto dev = device_param(req, path);
  if (!dev) return dev.error();
  auto metric = metric_param(req);
  if (!metric) return metric.error();
  auto range = range_params(req, now);
  if (!range) return range.error();
  q.device_id = std::move(*dev);
  q.metric = std::move(*metric);
  q.from_ms = range->from;
  q.to_ms = range->to;
  return std::nullopt;
}

Parsed<storage::ReadingQuery> parse_readings_query(const Request& req, const PathParams& path,
                                                   std::int64_t now) {
  storage::ReadingQuery q;
  if (auto bad = fill_filters(q, req, path, now)) return tl::unexpected(std::move(*bad));
  auto limit = int_param(req, "limit", 1, 10'000, 100);
  if (!limit) return tl::unexpected(limit.error());
  q.limit = static_cast<int>(*limit);
  auto offset = offset_param(req);
  if (!offset) return tl::unexpected(offset.error());
  q.offset = static_cast<int>(*offset);
  if (auto before = req.param("before"); before && !before->empty()) {
    auto c = decode_cursor(*before);
    if (!c)
      return tl::unexpected(
          bad_param("before must be the `next` token of a previous /readings response"));
    if (auto off = req.param("offset"); off && !off->empty())
      return tl::unexpected(bad_param("use either offset or before, not both"));
    q.before = *c;
  }
  return q;
}

Parsed<storage::StatsQuery> parse_stats_query(const Request& req, const PathParams& path,
                                              std::int64_t now) {
  storage::StatsQuery q;
  if (auto bad = fill_filters(q, req, path, now)) return tl::unexpected(std::move(*bad));
  return q;
}

Parsed<AggregateParams> parse_aggregate_query(const Request& req, const PathParams& path,
                                              std::int64_t now) {
  AggregateParams p;
  auto dev = device_param(req, path);
  if (!dev) return tl::unexpected(dev.error());
  p.query.device_id = std::move(*dev);
  auto metric = metric_param(req);
  if (!metric) return tl::unexpected(metric.error());
  p.query.metric = std::move(*metric);

  p.interval = "1h";
  p.query.interval_ms = 3'600'000;
  if (auto v = req.param("interval"); v && !v->empty()) {
    const Interval* found = nullptr;
    for (const auto& i : kIntervals)
      if (i.name == *v) found = &i;
    if (!found) {
      std::string names;
      for (const auto& i : kIntervals) {
        if (!names.empty()) names += ", ";
        names += i.name;
      }
      return tl::unexpected(bad_param("interval must be one of " + names));
    }
    p.interval = std::string(found->name);
    p.query.interval_ms = found->ms;
  }

  auto range = range_params(req, now);
  if (!range) return tl::unexpected(range.error());
  constexpr std::int64_t kDay = 86'400'000;
  if (range->from && range->to) {
    p.query.from_ms = *range->from;
    p.query.to_ms = *range->to;
  } else if (range->from) {
    p.query.from_ms = *range->from;
    p.query.to_ms = now;
    if (p.query.from_ms >= p.query.to_ms)
      return tl::unexpected(bad_param("from must be in the past when to is not given"));
  } else if (range->to) {
    p.query.to_ms = *range->to;
    p.query.from_ms = *range->to - kDay;
  } else {
    p.query.to_ms = now;
    p.query.from_ms = now - kDay;
  }
  const std::int64_t first = time::floor_to(p.query.from_ms, p.query.interval_ms);
  const std::int64_t span = p.query.to_ms - first;
  const std::int64_t buckets = (span + p.query.interval_ms - 1) / p.query.interval_ms;
  if (buckets > kMaxBuckets)
    return tl::unexpected(bad_param(
        "the range spans " + std::to_string(buckets) + " buckets of " + p.interval +
        "; at most " + std::to_string(kMaxBuckets) + ": narrow from/to or use a larger interval"));
  return p;
}

Parsed<ExportParams> parse_export_query(const Request& req, std::int64_t now) {
  ExportParams p;
  if (auto f = req.param("format"); f && !f->empty()) {
    auto l = lower(*f);
    if (l == "columnar" || l == "json")
      p.format = ExportFormat::columnar;
    else if (l == "csv")
      p.format = ExportFormat::csv;
    else if (l == "ndjson" || l == "jsonl")
      p.format = ExportFormat::ndjson;
    else
      return tl::unexpected(bad_param("format must be columnar, csv or ndjson"));
  }
  auto dev = device_param(req, {});
  if (!dev) return tl::unexpected(dev.error());
  p.device_id = std::move(*dev);
  auto metric = metric_param(req);
  if (!metric) return tl::unexpected(metric.error());
  p.metric = std::move(*metric);
  auto range = range_params(req, now);
  if (!range) return tl::unexpected(range.error());
  p.range = *range;
  const bool columnar = p.format == ExportFormat::columnar;
  auto limit = int_param(req, "limit", 1, columnar ? kColumnarMaxLimit : kStreamMaxLimit,
                         columnar ? kColumnarDefaultLimit : kStreamDefaultLimit);
  if (!limit) return tl::unexpected(limit.error());
  p.limit = *limit;
  return p;
}

Parsed<storage::AlertQuery> parse_alerts_query(const Request& req, const PathParams& path,
                                               std::int64_t now) {
  storage::AlertQuery q;
  auto dev = device_param(req, path);
  if (!dev) return tl::unexpected(dev.error());
  q.device_id = std::move(*dev);
  if (auto s = req.param("state"); s && !s->empty()) {
    auto l = lower(*s);
    if (l != "active" && l != "cleared")
      return tl::unexpected(bad_param("state must be active or cleared"));
    q.state = l;
  }
  auto ack = bool_param(req, "acknowledged");
  if (!ack) return tl::unexpected(ack.error());
  q.acknowledged = *ack;
  if (auto s = req.param("severity"); s && !s->empty()) {
    if (s->size() > 32 || !valid_metric_name(*s))
      return tl::unexpected(
          bad_param("severity must be 1-32 characters of A-Z a-z 0-9 _ . -, e.g. warning"));
    q.severity = lower(*s);
  }
  auto range = range_params(req, now);
  if (!range) return tl::unexpected(range.error());
  q.from_ms = range->from;
  q.to_ms = range->to;
  auto limit = int_param(req, "limit", 1, 10'000, 100);
  if (!limit) return tl::unexpected(limit.error());
  q.limit = static_cast<int>(*limit);
  auto offset = offset_param(req);
  if (!offset) return tl::unexpected(offset.error());
  q.offset = static_cast<int>(*offset);
  return q;
}

Parsed<storage::RejectQuery> parse_rejects_query(const Request& req) {
  storage::RejectQuery q;
  if (auto r = req.param("reason"); r && !r->empty()) {
    if (!valid_metric_name(*r))
      return tl::unexpected(bad_param("reason must be 1-64 characters of A-Z a-z 0-9 _ . -"));
    q.reason = *r;
  }
  auto limit = int_param(req, "limit", 1, 1'000, 100);
  if (!limit) return tl::unexpected(limit.error());
  q.limit = static_cast<int>(*limit);
  auto offset = offset_param(req);
  if (!offset) return tl::unexpected(offset.error());
  q.offset = static_cast<int>(*offset);
  return q;
}

std::optional<std::int64_t> parse_id(std::string_view s) {
  if (s.empty() || s.size() > 19) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  auto v = parse_int(s);
  if (!v || *v <= 0) return std::nullopt;
  return v;
}

std::string metric_plural(std::string_view m) {
  auto ends = [&](std::string_view suf) {
    return m.size() >= suf.size() && m.substr(m.size() - suf.size()) == suf;
  };
  std::string out(m);
  if (ends("s") || ends("x") || ends("z") || ends("ch") || ends("sh"))
    out += "es";
  else
    out += "s";
  return out;
}

}  // namespace iotd::http::api
