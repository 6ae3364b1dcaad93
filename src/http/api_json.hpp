// JSON pieces the REST handlers share, so a reading, an alert or a stat has one shape
// wherever it appears: stored metric objects parsed into (name, value) pairs, and writers
// for readings (v1 and the seeds' flattened rows), stats, alerts and latest values.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "iotd/storage/types.hpp"
#include "json_writer.hpp"

namespace iotd::http::api {

struct MetricValue {
  std::string name;
  std::optional<double> value;  // nullopt: not a number in storage
};

// A stored metrics object as (name, value) pairs sorted by name; booleans as 1/0.
std::vector<MetricValue> parse_metrics(std::string_view json);
// The value of `name` in sorted pairs; null when absent.
const std::optional<double>* find_metric(const std::vector<MetricValue>& ms, std::string_view name);

// Readings as columns (exports): each row's metrics parsed once, and the sorted union of
// metric names.
struct MetricColumns {
  std::vector<std::vector<MetricValue>> rows;
  std::set<std::string> names;
};
MetricColumns metric_columns(const std::vector<storage::StoredReading>& rows);
// One metric's column: [v0, v1, …] with null where a row lacks it.
void write_column(JsonWriter& w, const MetricColumns& c, const std::string& name);

// {"id","device_id","timestamp","received_at","metrics":{…}}
void write_reading(JsonWriter& w, const storage::StoredReading& r);
// Seed shape: metrics flattened into the row, the receive time under `created_key`.
void write_flat_reading(JsonWriter& w, const storage::StoredReading& r,
                        std::string_view created_key);
// {"count","min","max","avg"}, nulls when the count is 0.
void write_stat(JsonWriter& w, const storage::Stat& s);
void write_stats_object(JsonWriter& w, const std::map<std::string, storage::Stat>& m);
// `compat` adds seed 003's device_alerts columns (alert_type, created_at).
void write_alert(JsonWriter& w, const storage::Alert& a, bool compat);
// Opens a v1 page: {"count", "limit", "offset", "data": [ — the caller writes the items and
// closes with end_array().end_object().
void begin_page(JsonWriter& w, std::size_t count, std::int64_t limit, std::int64_t offset);
void write_device_latest(JsonWriter& w, const storage::DeviceLatest& d);

}  // namespace iotd::http::api
