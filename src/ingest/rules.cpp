#include "iotd/ingest/rules.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace iotd::ingest {
namespace {

std::string format_number(double v) {
  char buf[32];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc{} ? std::string(buf, p) : std::to_string(v);
}

bool outside(const Rule& r, double v) {
  return (r.min && v < *r.min) || (r.max && v > *r.max);
}

// Inside the range by at least the hysteresis margin.
bool cleared_by(const Rule& r, double v) {
  return (!r.min || v >= *r.min + r.hysteresis) && (!r.max || v <= *r.max - r.hysteresis);
}

// How far outside the range a value is (0 inside).
double excess(const Alert& a, double v) {
  if (a.threshold_max && v > *a.threshold_max) return v - *a.threshold_max;
  if (a.threshold_min && v < *a.threshold_min) return *a.threshold_min - v;
  return 0;
}

std::string describe(std::string_view metric, const Rule& r, double v) {
  std::string out(metric);
  out += ' ';
  out += format_number(v);
  if (r.max && v > *r.max)
    out += " above max " + format_number(*r.max);
  else if (r.min)
    out += " below min " + format_number(*r.min);
  return out;
}

void mark_dirty(AlarmBook& book, const AlarmKey& key) { book.dirty.insert(key); }

}  // namespace

RuleSet::RuleSet(std::vector<Rule> rules) {
  for (auto& r : rules) {
    auto key = std::make_tuple(r.metric, r.scope, r.scope_value);
    rules_.insert_or_assign(std::move(key), std::move(r));
  }
  size_ = rules_.size();
}

const Rule* RuleSet::find(std::string_view metric, std::string_view device_id,
                          std::string_view device_type) const {
  if (rules_.empty()) return nullptr;
  // Heterogeneous lookup (std::less<>): no strings built per reading and metric.
  auto lookup = [&](std::string_view scope, std::string_view value) -> const Rule* {
    auto it = rules_.find(std::make_tuple(metric, scope, value));
    return it == rules_.end() ? nullptr : &it->second;
  };
  if (auto* r = lookup("device", device_id)) return r;
  if (!device_type.empty())
    if (auto* r = lookup("type", device_type)) return r;
  return lookup("global", "");
}

void AlarmBook::load(std::vector<Alert> alerts) {
  active.clear();
  clear_pending();
  for (auto& a : alerts) {
    if (a.state != "active" || a.kind != "threshold") continue;
    AlarmKey key{a.device_id, a.metric};
    active.insert_or_assign(std::move(key), std::move(a));
  }
}

void evaluate(const RuleSet& rules, const Reading& reading, std::string_view device_type,
              AlarmBook& book, std::vector<AlarmChange>& events) {
  for (const auto& [metric, value] : reading.metrics) {
    const Rule* rule = rules.find(metric, reading.device_id, device_type);
    // The common case on the hot path: no rule and no alarm, nothing to evaluate.
    if (!rule && book.active.empty()) continue;
    AlarmKey key{reading.device_id, metric};
    auto it = book.active.find(key);
    if (it != book.active.end()) {
      Alert& a = it->second;
      // An active alarm whose rule was deleted clears on its next value.
      if (rule && outside(*rule, value)) {
        a.count += 1;
        a.last_value = value;
        if (excess(a, value) > excess(a, a.peak_value)) a.peak_value = value;
        a.updated_ts_ms = reading.ts_ms;
        a.message = describe(metric, *rule, value);
        mark_dirty(book, key);
        events.push_back({AlarmEvent::updated, key});
      } else if (!rule || cleared_by(*rule, value)) {
        a.state = "cleared";
        a.last_value = value;
        a.cleared_ts_ms = reading.ts_ms;
        a.updated_ts_ms = reading.ts_ms;
        book.closed.push_back(std::move(a));
        book.active.erase(it);
        book.dirty.erase(key);
        events.push_back({AlarmEvent::cleared, key});
      }
      // Inside the range but within the hysteresis band: the alarm stays as it is.
      continue;
    }
    if (!rule || !outside(*rule, value)) continue;
    Alert a;
    a.device_id = reading.device_id;
    a.metric = metric;
    a.kind = "threshold";
    a.severity = rule->severity;
    a.state = "active";
    a.message = describe(metric, *rule, value);
    a.threshold_min = rule->min;
    a.threshold_max = rule->max;
    a.first_value = a.last_value = a.peak_value = value;
    a.count = 1;
    a.raised_ts_ms = a.updated_ts_ms = reading.ts_ms;
    a.raised_received_at_ms = reading.received_at_ms;
    book.active.emplace(key, std::move(a));
    mark_dirty(book, key);
    events.push_back({AlarmEvent::raised, key});
  }
}

}  // namespace iotd::ingest
