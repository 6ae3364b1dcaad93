#include "iotd/http/health_routes.hpp"

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "iotd/core/health.hpp"
#include "iotd/core/metrics.hpp"
#include "iotd/core/prometheus_text.hpp"
#include "json_writer.hpp"

namespace iotd::http {
namespace {

// Renders the registry as the health JSON's "counters" object: a counter or gauge as a
// number (a Unit::unix_ms time as ISO-8601, or null when never set), a labelled counter as
// {value: n} (nested per label) plus "<name>_total", a histogram as
// {"count", "sum", "buckets": {le: cumulative count, ..., "+Inf": count}}.
class JsonMetricsVisitor final : public metrics::MetricVisitor {
 public:
  explicit JsonMetricsVisitor(JsonWriter& w) : w_(w) {}

  void counter(const metrics::Info& info, std::uint64_t value) override {
    w_.key(info.name).integer(static_cast<std::int64_t>(value));
  }

  void gauge(const metrics::Info& info, std::int64_t value) override {
    w_.key(info.name);
    if (info.unit != metrics::Unit::unix_ms)
      w_.integer(value);
    else if (value > 0)
      w_.iso(value);
    else
      w_.null();
  }

  void histogram(const metrics::Info& info, const metrics::HistogramSnapshot& h) override {
    std::string key(info.name);
    if (info.unit == metrics::Unit::seconds) key += "_seconds";
    w_.key(key);
    snapshot(h);
  }

  // A labelled histogram as {label value: histogram} (one label: the route).
  void labelled_histogram(const metrics::Info& info, std::span<const std::string_view> label_names,
                          std::span<const metrics::LabelledHistogram> series) override {
    std::string key(info.name);
    if (info.unit == metrics::Unit::seconds) key += "_seconds";
    w_.key(key).begin_object();
    for (const auto& s : series) {
      std::string k;
      for (const auto& v : s.values) k += (k.empty() ? "" : " ") + v;
      w_.key(k);
      snapshot(s.histogram);
    }
    w_.end_object();
  }

  void snapshot(const metrics::HistogramSnapshot& h) {
    w_.begin_object();
    w_.key("count").integer(static_cast<std::int64_t>(h.count));
    w_.key("sum").num(h.sum);
    w_.key("buckets").begin_object();
    for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
      const auto le = i < h.bounds.size() ? metrics::prometheus_float(h.bounds[i]) : std::string("+Inf");
      w_.key(le).integer(static_cast<std::int64_t>(h.cumulative[i]));
    }
    w_.end_object();
    w_.end_object();
  }

  void labelled_counter(const metrics::Info& info, std::span<const std::string_view> label_names,
                        std::span<const metrics::LabelledSample> samples) override {
    // Samples come ordered by their label values, so equal prefixes are adjacent.
    const std::size_t depth = label_names.size();
    if (depth == 0) return;
    std::uint64_t total = 0;
    const std::vector<std::string>* prev = nullptr;
    w_.key(info.name).begin_object();
    for (const auto& s : samples) {
      std::size_t common = 0;
      if (prev)
        while (common + 1 < depth && (*prev)[common] == s.values[common]) ++common;
      if (prev)
        for (std::size_t i = common + 1; i < depth; ++i) w_.end_object();
      for (std::size_t i = prev ? common : 0; i + 1 < depth; ++i) w_.key(s.values[i]).begin_object();
      w_.key(s.values[depth - 1]).integer(static_cast<std::int64_t>(s.value));
      total += s.value;
      prev = &s.values;
    }
    if (prev)
      for (std::size_t i = 1; i < depth; ++i) w_.end_object();
    w_.end_object();
    w_.key(std::string(info.name) + "_total").integer(static_cast<std::int64_t>(total));
  }

 private:
  JsonWriter& w_;
};

struct HealthContext {
  const Counters* counters = nullptr;
  std::function<HealthSnapshot()> health;
  std::string version;
};

Response health(const HealthContext& ctx) {
  HealthSnapshot h = ctx.health ? ctx.health() : HealthSnapshot{};
  if (h.version.empty()) h.version = ctx.version;
  const HealthVerdict verdict = assess_health(h);

  JsonWriter w(2048);
  w.begin_object();
  w.key("status").str(to_string(verdict.status));
  w.key("reasons").begin_array();
  for (const auto& r : verdict.reasons) w.str(r);
  w.end_array();
  w.key("database").begin_object();
  w.key("ok").boolean(h.database_ok);
  w.key("backend").str_or_null(h.database_backend);
  w.key("error").str_or_null(h.database_ok ? std::string_view() : std::string_view(h.database_error));
  w.end_object();
  w.key("mqtt").begin_object();
  w.key("enabled").boolean(h.mqtt_enabled);
  w.key("connected").boolean(h.mqtt_connected);
  w.key("url").str_or_null(h.mqtt_url);
  w.end_object();
  w.key("journal").begin_object();
  w.key("backlog").integer(static_cast<std::int64_t>(h.journal_backlog));
  w.key("bytes").integer(static_cast<std::int64_t>(h.journal_bytes));
  w.key("commit_lag_ms").integer(h.commit_lag_ms);
  w.key("quarantined_files").integer(static_cast<std::int64_t>(h.journal_quarantined_segments));
  w.key("quarantined_bytes").integer(static_cast<std::int64_t>(h.journal_quarantined_bytes));
  w.key("free_bytes").integer(h.journal_free_bytes);
  w.end_object();
  w.key("ingest").begin_object();
  w.key("paused").boolean(h.ingest_paused);
  w.key("reason").str_or_null(h.ingest_paused ? std::string_view(h.ingest_pause_reason) : std::string_view());
  w.key("blocked").boolean(h.intake_blocked);
  w.key("blocked_reason").str_or_null(h.intake_blocked ? std::string_view(h.intake_blocked_reason)
                                                       : std::string_view());
  w.end_object();
  w.key("uptime_s").integer(h.uptime_ms / 1000);
  w.key("version").str(h.version);
  w.key("counters").begin_object();
  if (ctx.counters) {
    JsonMetricsVisitor v(w);
    ctx.counters->visit(v);
  }
  w.end_object();
  w.end_object();
  auto r = json_response(verdict.http_status, w.take());
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

Response compat_health(const HealthContext& ctx) {
  JsonWriter w(96);
  w.begin_object().key("status").str("healthy").key("service").str("iotd").key("version").str(ctx.version).end_object();
  return json_response(200, w.take());
}

}  // namespace

void register_health_routes(Router& router, const ApiContext& api) {
  auto ctx = std::make_shared<const HealthContext>(HealthContext{api.counters, api.health, api.version});
  auto io = [&](const char* path, Response (*fn)(const HealthContext&)) {
    router.add("GET", path, Exec::io,
               [ctx, fn](const Request&, const PathParams&, Respond respond) { respond(fn(*ctx)); });
  };
  io("/api/v1/health", health);
  io("/api/v1/health/live", [](const HealthContext&) { return json_response(200, "{\"status\":\"alive\"}"); });
  io("/api/health", compat_health);  // seed 002
  io("/health", compat_health);      // seed 000
}

}  // namespace iotd::http
