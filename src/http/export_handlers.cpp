// GET /api/v1/export: columnar JSON in one body, or csv/ndjson streamed in keyset pages so
// each read transaction stays short and memory stays bounded whatever the range.
#include "handlers.hpp"

#include <cmath>
#include <memory>

#include "api_json.hpp"
#include "iotd/core/time.hpp"

namespace iotd::http::api {
namespace {

void append_csv_field(std::string& out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(s);
    return;
  }
  out.push_back('"');
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

struct ExportStream {
  storage::Repository* repo = nullptr;
  ExportFormat format = ExportFormat::csv;
  storage::ReadingQuery query;         // oldest first; `after` advances
  std::int64_t remaining = 0;
  std::vector<std::string> columns;    // csv metric columns
  bool header_done = false;

  // One chunk: the header (csv) and the next page of rows. False after the last one.
  bool next(std::string& out) {
    if (format == ExportFormat::csv && !header_done) {
      out.append("timestamp,device_id");
      for (const auto& c : columns) {
        out.push_back(',');
        append_csv_field(out, c);
      }
      out.push_back('\n');
    }
    header_done = true;
    if (remaining <= 0) return false;
    query.limit = static_cast<int>(std::min<std::int64_t>(kPage, remaining));
    auto page = repo->readings(query);
    out.reserve(out.size() + page.rows.size() * 120);
    JsonWriter w(0);
    for (const auto& r : page.rows) {
      if (format == ExportFormat::csv) {
        append_iso8601(out, r.ts_ms);
        out.push_back(',');
        append_csv_field(out, r.device_id);
        auto ms = parse_metrics(r.metrics_json);
        for (const auto& c : columns) {
          out.push_back(',');
          if (auto v = find_metric(ms, c); v && *v && std::isfinite(**v)) append_double(out, **v);
        }
        out.push_back('\n');
      } else {
        w.buffer().clear();
        write_reading(w, r);
        out.append(w.buffer());
        out.push_back('\n');
      }
    }
    remaining -= static_cast<std::int64_t>(page.rows.size());
    if (page.rows.size() < static_cast<std::size_t>(query.limit) || page.rows.empty()) return false;
    query.after = cursor_of(page.rows.back());
    return remaining > 0;
  }
};

}  // namespace

Response export_data(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto p = parse_export_query(req, time::now_ms());
  if (!p) return p.error().to_response();
  storage::ReadingQuery base;
  base.device_id = p->device_id;
  base.metric = p->metric;
  base.from_ms = p->range.from;
  base.to_ms = p->range.to;

  if (p->format == ExportFormat::columnar) {
    bool truncated = false;
    auto rows = fetch_rows(*ctx.repo, base, p->limit, /*newest_when_open=*/true, &truncated);
    auto cols = metric_columns(rows);
    JsonWriter w(256 + rows.size() * (64 + cols.names.size() * 12));
    w.begin_object();
    w.key("sample_count").integer(static_cast<std::int64_t>(rows.size()));
    w.key("truncated").boolean(truncated);
    w.key("columns").begin_object();
    w.key("timestamp").begin_array();
    for (const auto& r : rows) w.iso(r.ts_ms);
    w.end_array();
    w.key("device_id").begin_array();
    for (const auto& r : rows) w.str(r.device_id);
    w.end_array();
    for (const auto& name : cols.names) {
      if (name == "timestamp" || name == "device_id") continue;
      w.key(name);
      write_column(w, cols, name);
    }
    w.end_object().end_object();
    return ok_json(w);
  }

  auto state = std::make_shared<ExportStream>();
  state->repo = ctx.repo;
  state->format = p->format;
  state->query = base;
  state->query.oldest_first = true;
  state->remaining = p->limit;
  if (p->format == ExportFormat::csv) {
    // The header needs every column up front: the metric filter, or the metrics the
    // rollups know in the range.
    if (p->metric) {
      state->columns.push_back(*p->metric);
    } else {
      storage::StatsQuery sq;
      sq.device_id = p->device_id;
      sq.from_ms = p->range.from;
      sq.to_ms = p->range.to;
      for (const auto& [name, _] : ctx.repo->stats(sq))
        if (name != "timestamp" && name != "device_id") state->columns.push_back(name);
    }
  }
  Response r;
  const bool csv = p->format == ExportFormat::csv;
  r.content_type = csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
  r.headers.emplace_back("Content-Disposition", csv ? "attachment; filename=\"iotd-export.csv\""
                                                    : "attachment; filename=\"iotd-export.ndjson\"");
  r.stream = [state](std::string& chunk) { return state->next(chunk); };
  return r;
}

}  // namespace iotd::http::api
