#include "sql_common.hpp"

#include <soci/soci.h>

namespace iotd::storage::detail {

SqlBuilder& SqlBuilder::add(std::string_view fragment) {
  text_ += fragment;
  return *this;
}

SqlBuilder& SqlBuilder::add(std::string_view fragment, long long value) {
  text_ += fragment;
  ints_.push_back(value);
  params_.emplace_back(&ints_.back());
  return *this;
}

SqlBuilder& SqlBuilder::add(std::string_view fragment, std::string value) {
  text_ += fragment;
  strings_.push_back(std::move(value));
  params_.emplace_back(&strings_.back());
  return *this;
}

void SqlBuilder::bind(soci::statement& st) {
  for (auto& p : params_) std::visit([&](auto* v) { st.exchange(soci::use(*v)); }, p);
}

const std::string_view kSelectAlerts =
    "SELECT a.id, d.device_id, a.metric, a.kind, a.severity, a.state, a.message, "
    "a.threshold_min, a.threshold_max, a.first_value, a.last_value, a.peak_value, a.count, "
    "a.raised_ts, a.raised_received_at, a.updated_ts, a.cleared_ts, a.acknowledged, "
    "a.acknowledged_at, a.acknowledged_by "
    "FROM alerts a LEFT JOIN devices d ON d.pk = a.device_pk";

std::vector<Alert> fetch_alerts(soci::session& s, SqlBuilder& q) {
  long long id = 0, count = 0, raised_ts = 0, raised_received_at = 0, updated_ts = 0,
            cleared_ts = 0, acknowledged_at = 0;
  int acknowledged = 0;
  std::string device_id, metric, kind, severity, state, message, acknowledged_by;
  double threshold_min = 0, threshold_max = 0, first_value = 0, last_value = 0, peak_value = 0;
  soci::indicator device_ind, tmin_ind, tmax_ind, cleared_ind, ack_at_ind, ack_by_ind;

  soci::statement st(s);
  st.exchange(soci::into(id));
  st.exchange(soci::into(device_id, device_ind));
  st.exchange(soci::into(metric));
  st.exchange(soci::into(kind));
  st.exchange(soci::into(severity));
  st.exchange(soci::into(state));
  st.exchange(soci::into(message));
  st.exchange(soci::into(threshold_min, tmin_ind));
  st.exchange(soci::into(threshold_max, tmax_ind));
  st.exchange(soci::into(first_value));
  st.exchange(soci::into(last_value));
  st.exchange(soci::into(peak_value));
  st.exchange(soci::into(count));
  st.exchange(soci::into(raised_ts));
  st.exchange(soci::into(raised_received_at));
  st.exchange(soci::into(updated_ts));
  st.exchange(soci::into(cleared_ts, cleared_ind));
  st.exchange(soci::into(acknowledged));
  st.exchange(soci::into(acknowledged_at, ack_at_ind));
  st.exchange(soci::into(acknowledged_by, ack_by_ind));
  q.bind(st);
  st.alloc();
  st.prepare(q.text());
  st.define_and_bind();
  st.execute();

  std::vector<Alert> out;
  while (st.fetch()) {
    Alert a;
    a.id = id;
    a.device_id = device_ind == soci::i_ok ? device_id : std::string{};
    a.metric = metric;
    a.kind = kind;
    a.severity = severity;
    a.state = state;
    a.message = message;
    if (tmin_ind == soci::i_ok) a.threshold_min = threshold_min;
    if (tmax_ind == soci::i_ok) a.threshold_max = threshold_max;
    a.first_value = first_value;
    a.last_value = last_value;
    a.peak_value = peak_value;
    a.count = count;
    a.raised_ts_ms = raised_ts;
    a.raised_received_at_ms = raised_received_at;
    a.updated_ts_ms = updated_ts;
    if (cleared_ind == soci::i_ok) a.cleared_ts_ms = cleared_ts;
    a.acknowledged = acknowledged != 0;
    if (ack_at_ind == soci::i_ok) a.acknowledged_at_ms = acknowledged_at;
    if (ack_by_ind == soci::i_ok) a.acknowledged_by = acknowledged_by;
    out.push_back(std::move(a));
  }
  return out;
}

std::vector<Rule> fetch_rules(soci::session& s) {
  std::string metric, scope, scope_value, severity;
  double min_value = 0, max_value = 0, hysteresis = 0;
  soci::indicator min_ind, max_ind;
  soci::statement st =
      (s.prepare << "SELECT metric, scope, scope_value, min_value, max_value, severity, hysteresis "
                    "FROM rules ORDER BY metric, scope, scope_value",
       soci::into(metric), soci::into(scope), soci::into(scope_value),
       soci::into(min_value, min_ind), soci::into(max_value, max_ind), soci::into(severity),
       soci::into(hysteresis));
  st.execute();
  std::vector<Rule> out;
  while (st.fetch()) {
    Rule r;
    r.metric = metric;
    r.scope = scope;
    r.scope_value = scope_value;
    if (min_ind == soci::i_ok) r.min = min_value;
    if (max_ind == soci::i_ok) r.max = max_value;
    r.severity = severity;
    r.hysteresis = hysteresis;
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<std::int64_t> find_device_pk(soci::session& s, const std::string& device_id) {
  long long pk = 0;
  s << "SELECT pk FROM devices WHERE device_id = :device_id", soci::into(pk), soci::use(device_id);
  if (!s.got_data()) return std::nullopt;
  return pk;
}

std::optional<std::int64_t> find_metric_id(soci::session& s, const std::string& name) {
  long long id = 0;
  s << "SELECT id FROM metric_names WHERE name = :name", soci::into(id), soci::use(name);
  if (!s.got_data()) return std::nullopt;
  return id;
}

// One alert row, all 19 columns bound; returns its id (RETURNING or the last insert id).
std::int64_t insert_alert_row(soci::session& s, const SqlDialect& d, long long device_pk,
                              const Alert& a) {
  std::string metric = a.metric, kind = a.kind, severity = a.severity, state = a.state,
              message = a.message, ack_by = a.acknowledged_by;
  double tmin = a.threshold_min.value_or(0), tmax = a.threshold_max.value_or(0);
  double first = a.first_value, last = a.last_value, peak = a.peak_value;
  long long count = a.count, raised_ts = a.raised_ts_ms,
            raised_received_at = a.raised_received_at_ms, updated_ts = a.updated_ts_ms,
            cleared_ts = a.cleared_ts_ms.value_or(0),
            ack_at = a.acknowledged_at_ms.value_or(0);
  int acknowledged = a.acknowledged ? 1 : 0;
  soci::indicator tmin_ind = a.threshold_min ? soci::i_ok : soci::i_null;
  soci::indicator tmax_ind = a.threshold_max ? soci::i_ok : soci::i_null;
  soci::indicator cleared_ind = a.cleared_ts_ms ? soci::i_ok : soci::i_null;
  soci::indicator ack_at_ind = a.acknowledged_at_ms ? soci::i_ok : soci::i_null;
  soci::indicator ack_by_ind = a.acknowledged_by.empty() ? soci::i_null : soci::i_ok;
  long long id = 0;
  soci::statement st(s);
  st.exchange(soci::use(device_pk));
  st.exchange(soci::use(metric));
  st.exchange(soci::use(kind));
  st.exchange(soci::use(severity));
  st.exchange(soci::use(state));
  st.exchange(soci::use(message));
  st.exchange(soci::use(tmin, tmin_ind));
  st.exchange(soci::use(tmax, tmax_ind));
  st.exchange(soci::use(first));
  st.exchange(soci::use(last));
  st.exchange(soci::use(peak));
  st.exchange(soci::use(count));
  st.exchange(soci::use(raised_ts));
  st.exchange(soci::use(raised_received_at));
  st.exchange(soci::use(updated_ts));
  st.exchange(soci::use(cleared_ts, cleared_ind));
  st.exchange(soci::use(acknowledged));
  st.exchange(soci::use(ack_at, ack_at_ind));
  st.exchange(soci::use(ack_by, ack_by_ind));
  if (d.ids == IdRetrieval::returning) st.exchange(soci::into(id));
  st.alloc();
  st.prepare(std::string(d.insert_alert));
  st.define_and_bind();
  st.execute(true);
  if (d.ids == IdRetrieval::returning) {
    while (st.fetch()) {
    }
  } else {
    s.get_last_insert_id("alerts", id);
  }
  return static_cast<std::int64_t>(id);
}

}  // namespace iotd::storage::detail
