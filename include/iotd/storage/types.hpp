// Row and query types shared by the storage layer and its callers (HTTP handlers, writer).
// Plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "iotd/core/domain.hpp"

namespace iotd::storage {

// The domain types moved to core (the rule engine uses them without storage); the aliases
// keep storage::Rule and storage::Alert call sites as they are.
using iotd::Alert;
using iotd::Rule;

// Keyset position for newest-first paging: rows strictly older than (ts, id).
struct Cursor {
  std::int64_t ts = 0;
  std::int64_t id = 0;
};

struct ReadingQuery {
  std::optional<std::string> device_id;
  std::optional<std::string> metric;      // keep messages carrying it; show only it
  std::optional<std::int64_t> from_ms;    // inclusive, device time
  std::optional<std::int64_t> to_ms;      // exclusive
  int limit = 100;
  int offset = 0;                         // ignored when `before` is set
  std::optional<Cursor> before;
  bool oldest_first = false;              // export streams oldest first
  std::optional<Cursor> after;            // with oldest_first: rows strictly newer
};

struct StoredReading {
  std::int64_t id = 0;
  std::string device_id;
  std::int64_t ts_ms = 0;
  std::int64_t received_at_ms = 0;
  std::string metrics_json;  // JSON object {name: value}; already filtered to `metric`
  std::string extra_json;    // may be empty
};

struct ReadingPage {
  std::vector<StoredReading> rows;
  std::optional<Cursor> next;  // set when more rows may follow
};

struct Stat {
  std::int64_t count = 0;
  double min = 0, max = 0, sum = 0;
  void add(double v) {
    if (count == 0 || v < min) min = v;
    if (count == 0 || v > max) max = v;
    sum += v;
    ++count;
  }
  void merge(const Stat& o) {
    if (o.count == 0) return;
    if (count == 0 || o.min < min) min = o.min;
    if (count == 0 || o.max > max) max = o.max;
    sum += o.sum;
    count += o.count;
  }
};

struct StatsQuery {
  std::optional<std::string> device_id;
  std::optional<std::string> metric;
  std::optional<std::int64_t> from_ms;
  std::optional<std::int64_t> to_ms;
};

struct AggregateQuery {
  std::optional<std::string> device_id;
  std::optional<std::string> metric;
  std::int64_t from_ms = 0;
  std::int64_t to_ms = 0;
  std::int64_t interval_ms = 60'000;  // multiple of 60 s
};

struct Bucket {
  std::int64_t start_ms = 0;
  std::map<std::string, Stat> metrics;
};

struct LatestValue {
  double value = 0;
  std::int64_t ts_ms = 0;
};

struct DeviceLatest {
  std::string device_id;
  std::int64_t last_seen_at_ms = 0;  // received_at of the newest stored message
  std::map<std::string, LatestValue> metrics;
};

struct AlertQuery {
  std::optional<std::string> device_id;
  std::optional<std::string> state;
  std::optional<bool> acknowledged;
  std::optional<std::string> severity;
  std::optional<std::int64_t> from_ms, to_ms;  // on raised_ts
  int limit = 100;
  int offset = 0;
};

struct RejectRecord {
  std::int64_t id = 0;
  std::string source;  // mqtt | http
  std::string topic;
  std::string payload; // capped bytes
  std::int64_t payload_size = 0;
  std::string reason;
  std::string detail;
  std::int64_t received_at_ms = 0;
};

struct RejectQuery {
  std::optional<std::string> reason;
  int limit = 100;
  int offset = 0;
};

}  // namespace iotd::storage
