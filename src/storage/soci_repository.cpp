// The read side (repository.hpp): a soci::connection_pool; every call leases one session for
// its duration and runs short statements (SQLite WAL lets them run beside the writer).
// Statistics and aggregates come from the per-minute rollups, plus the raw messages of the
// partial minutes at the edges of the range.
#include <soci/soci.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "device_sql.hpp"
#include "dialect.hpp"
#include "iotd/core/time.hpp"
#include "iotd/storage/database.hpp"
#include "metrics_json.hpp"
#include "session_pool.hpp"
#include "sql_common.hpp"

namespace iotd::storage {
namespace {

using detail::SqlBuilder;

constexpr std::int64_t kMinute = 60'000;
constexpr std::size_t kScanChunk = 1000;

std::int64_t ceil_to(std::int64_t ms, std::int64_t step) {
  std::int64_t f = time::floor_to(ms, step);
  return f == ms ? f : f + step;
}

std::string from_hex(const std::string& hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  return out;
}

// Prepares and runs `q` after its into() elements have been exchanged.
void run(soci::statement& st, SqlBuilder& q, bool fetch_first) {
  q.bind(st);
  st.alloc();
  st.prepare(q.text());
  st.define_and_bind();
  st.execute(fetch_first);
}

// The device/metric scope of a stats or aggregate query, resolved to keys. `empty` when a
// named device or metric does not exist (nothing to report).
struct Scope {
  std::optional<long long> device_pk;
  std::optional<long long> metric_id;
  const std::optional<std::string>* metric = nullptr;
  bool empty = false;
};

Scope resolve_scope(soci::session& s, const std::optional<std::string>& device_id,
                    const std::optional<std::string>& metric) {
  Scope sc;
  sc.metric = &metric;
  if (device_id) {
    auto pk = detail::find_device_pk(s, *device_id);
    if (!pk) sc.empty = true;
    else sc.device_pk = *pk;
  }
  if (metric) {
    auto id = detail::find_metric_id(s, *metric);
    if (!id) sc.empty = true;
    else sc.metric_id = *id;
  }
  return sc;
}

// Rollup rows over whole minutes [lo, hi) (either bound optional), grouped by metric and,
// when interval_ms > 0, by interval-aligned bucket: sink(bucket_start, name, stat).
template <class Sink>
void sum_rollups(soci::session& s, const Scope& sc, std::optional<std::int64_t> lo,
                 std::optional<std::int64_t> hi, std::int64_t interval_ms, Sink&& sink) {
  SqlBuilder q("SELECT ");
  if (interval_ms > 0) q.add("r.bucket - (r.bucket % :interval) AS b, ", interval_ms);
  q.add("mn.name, SUM(r.n), MIN(r.min), MAX(r.max), SUM(r.sum) "
        "FROM rollup_1m r JOIN metric_names mn ON mn.id = r.metric_id WHERE 1 = 1");
  if (sc.device_pk) q.add(" AND r.device_pk = :device_pk", *sc.device_pk);
  if (sc.metric_id) q.add(" AND r.metric_id = :metric_id", *sc.metric_id);
  if (lo) q.add(" AND r.bucket >= :lo", *lo);
  if (hi) q.add(" AND r.bucket < :hi", *hi);
  q.add(interval_ms > 0 ? " GROUP BY b, mn.name" : " GROUP BY mn.name");

  long long bucket = 0, n = 0;
  std::string name;
  double mn = 0, mx = 0, sum = 0;
  soci::statement st(s);
  if (interval_ms > 0) st.exchange(soci::into(bucket));
  st.exchange(soci::into(name));
  st.exchange(soci::into(n));
  st.exchange(soci::into(mn));
  st.exchange(soci::into(mx));
  st.exchange(soci::into(sum));
  run(st, q, false);
  while (st.fetch()) sink(static_cast<std::int64_t>(bucket), name, Stat{n, mn, mx, sum});
}

// Raw values of the messages with ts in [from, to): sink(ts, name, value).
template <class Sink>
void scan_messages(soci::session& s, const Scope& sc, std::int64_t from, std::int64_t to,
                   Sink&& sink) {
  if (from >= to) return;
  SqlBuilder q("SELECT m.ts, m.metrics FROM messages m WHERE 1 = 1");
  if (sc.device_pk) q.add(" AND m.device_pk = :device_pk", *sc.device_pk);
  q.add(" AND m.ts >= :from_ts", from).add(" AND m.ts < :to_ts", to);
  std::vector<long long> ts(kScanChunk);
  std::vector<std::string> metrics(kScanChunk);
  soci::statement st(s);
  st.exchange(soci::into(ts));
  st.exchange(soci::into(metrics));
  run(st, q, false);
  const std::optional<std::string>& only = *sc.metric;
  while (st.fetch()) {
    for (std::size_t i = 0; i < ts.size(); ++i) {
      detail::for_each_metric(metrics[i], [&](std::string_view name, double v) {
        if (only && name != *only) return;
        sink(static_cast<std::int64_t>(ts[i]), name, v);
      });
    }
  }
}

class SociRepository final : public Repository {
 public:
  SociRepository(const ConnectionSpec& spec, int pool_size)
      : d_(detail::sql_dialect(detail::dialect_of(spec))), pool_(spec, pool_size) {}

  ReadingPage readings(const ReadingQuery& q) override {
    return with_session([&](soci::session& s) -> ReadingPage {
      const std::size_t limit = static_cast<std::size_t>(std::max(1, q.limit));
      const std::size_t want = limit + 1;  // one more than a page tells whether more follow
      std::optional<long long> device_pk;
      if (q.device_id) {
        device_pk = detail::find_device_pk(s, *q.device_id);
        if (!device_pk) return {};
      }
      const bool asc = q.oldest_first;
      std::optional<Cursor> pos = asc ? q.after : q.before;
      long long skip = pos ? 0 : std::max(0, q.offset);
      const bool by_metric = q.metric.has_value();

      std::vector<StoredReading> rows;
      std::vector<long long> ids, tss, ras;
      std::vector<std::string> metrics, extras, devices;
      std::vector<soci::indicator> extra_ind;
      std::string filtered;
      for (;;) {
        // Without a metric filter one query fills the page. With one, rows are filtered
        // here (no portable SQL JSON test) and fetched in keyset chunks until it is full.
        const std::size_t chunk = by_metric ? std::max<std::size_t>(want, 500) : want;
        SqlBuilder sql(
            "SELECT m.id, m.ts, m.received_at, m.metrics, m.extra, d.device_id "
            "FROM messages m JOIN devices d ON d.pk = m.device_pk WHERE 1 = 1");
        if (device_pk) sql.add(" AND m.device_pk = :device_pk", *device_pk);
        if (q.from_ms) sql.add(" AND m.ts >= :from_ts", *q.from_ms);
        if (q.to_ms) sql.add(" AND m.ts < :to_ts", *q.to_ms);
        if (pos) {
          // The plain range on ts lets the index start at the cursor.
          if (asc)
            sql.add(" AND m.ts >= :c_ts", pos->ts)
                .add(" AND (m.ts > :c_ts2", pos->ts)
                .add(" OR m.id > :c_id)", pos->id);
          else
            sql.add(" AND m.ts <= :c_ts", pos->ts)
                .add(" AND (m.ts < :c_ts2", pos->ts)
                .add(" OR m.id < :c_id)", pos->id);
        }
        sql.add(asc ? " ORDER BY m.ts, m.id" : " ORDER BY m.ts DESC, m.id DESC");
        sql.add(" LIMIT :limit", static_cast<long long>(chunk));
        if (!by_metric && skip > 0) sql.add(" OFFSET :offset", skip);

        for (auto* v : {&ids, &tss, &ras}) v->resize(chunk);
        for (auto* v : {&metrics, &extras, &devices}) v->resize(chunk);
        extra_ind.resize(chunk);
        soci::statement st(s);
        st.exchange(soci::into(ids));
        st.exchange(soci::into(tss));
        st.exchange(soci::into(ras));
        st.exchange(soci::into(metrics));
        st.exchange(soci::into(extras, extra_ind));
        st.exchange(soci::into(devices));
        run(st, sql, true);
        const std::size_t n = st.got_data() ? ids.size() : 0;

        for (std::size_t i = 0; i < n && rows.size() < want; ++i) {
          pos = Cursor{tss[i], ids[i]};
          if (by_metric) {
            if (!detail::filter_metrics_json(metrics[i], *q.metric, filtered)) continue;
            if (skip > 0) {
              --skip;
              continue;
            }
          }
          StoredReading r;
          r.id = ids[i];
          r.device_id = std::move(devices[i]);
          r.ts_ms = tss[i];
          r.received_at_ms = ras[i];
          r.metrics_json = by_metric ? filtered : std::move(metrics[i]);
          if (extra_ind[i] == soci::i_ok) r.extra_json = std::move(extras[i]);
          rows.push_back(std::move(r));
        }
        if (!by_metric || rows.size() >= want || n < chunk) break;
      }

      ReadingPage page;
      if (rows.size() > limit) {
        rows.resize(limit);
        page.next = Cursor{rows.back().ts_ms, rows.back().id};
      }
      page.rows = std::move(rows);
      return page;
    });
  }

  std::map<std::string, Stat> stats(const StatsQuery& q) override {
    return with_session([&](soci::session& s) -> std::map<std::string, Stat> {
      std::map<std::string, Stat> out;
      Scope sc = resolve_scope(s, q.device_id, q.metric);
      if (sc.empty) return out;
      auto add_rollup = [&](std::int64_t, const std::string& name, const Stat& st) {
        out[name].merge(st);
      };
      auto add_value = [&](std::int64_t, std::string_view name, double v) {
        out[std::string(name)].add(v);
      };
      if (!q.from_ms && !q.to_ms) {
        sum_rollups(s, sc, std::nullopt, std::nullopt, 0, add_rollup);
        return out;
      }
      for_range(s, sc, q.from_ms, q.to_ms, 0, add_rollup, add_value);
      return out;
    });
  }

  std::vector<Bucket> aggregate(const AggregateQuery& q) override {
    if (q.interval_ms <= 0 || q.interval_ms % kMinute != 0)
      throw std::invalid_argument("aggregate interval must be a positive multiple of 60 s");
    return with_session([&](soci::session& s) -> std::vector<Bucket> {
      std::map<std::int64_t, Bucket> buckets;
      Scope sc = resolve_scope(s, q.device_id, q.metric);
      if (sc.empty || q.to_ms <= q.from_ms) return {};
      auto bucket = [&](std::int64_t start) -> Bucket& {
        Bucket& b = buckets[start];
        b.start_ms = start;
        return b;
      };
      for_range(
          s, sc, q.from_ms, q.to_ms, q.interval_ms,
          [&](std::int64_t start, const std::string& name, const Stat& st) {
            bucket(start).metrics[name].merge(st);
          },
          [&](std::int64_t ts, std::string_view name, double v) {
            bucket(time::floor_to(ts, q.interval_ms)).metrics[std::string(name)].add(v);
          });
      std::vector<Bucket> out;
      out.reserve(buckets.size());
      for (auto& [_, b] : buckets) out.push_back(std::move(b));
      return out;
    });
  }

  std::vector<Alert> alerts(const AlertQuery& q) override {
    return with_session([&](soci::session& s) -> std::vector<Alert> {
      SqlBuilder sql(detail::kSelectAlerts);
      sql.add(" WHERE 1 = 1");
      if (q.device_id) {
        auto pk = detail::find_device_pk(s, *q.device_id);
        if (!pk) return {};
        sql.add(" AND a.device_pk = :device_pk", *pk);
      }
      if (q.state) sql.add(" AND a.state = :state", *q.state);
      if (q.acknowledged) sql.add(" AND a.acknowledged = :ack", *q.acknowledged ? 1LL : 0LL);
      if (q.severity) sql.add(" AND a.severity = :severity", *q.severity);
      if (q.from_ms) sql.add(" AND a.raised_ts >= :from_ts", *q.from_ms);
      if (q.to_ms) sql.add(" AND a.raised_ts < :to_ts", *q.to_ms);
      sql.add(" ORDER BY a.raised_ts DESC, a.id DESC");
      sql.add(" LIMIT :limit", static_cast<long long>(std::max(0, q.limit)));
      sql.add(" OFFSET :offset", static_cast<long long>(std::max(0, q.offset)));
      return detail::fetch_alerts(s, sql);
    });
  }

  std::optional<Alert> alert(std::int64_t id) override {
    return with_session([&](soci::session& s) -> std::optional<Alert> {
      SqlBuilder sql(detail::kSelectAlerts);
      sql.add(" WHERE a.id = :id", static_cast<long long>(id));
      auto rows = detail::fetch_alerts(s, sql);
      if (rows.empty()) return std::nullopt;
      return std::move(rows.front());
    });
  }

  // The first acknowledgement is kept; acknowledging again only reports that it exists.
  bool acknowledge_alert(std::int64_t id, const std::string& by, std::int64_t at_ms) override {
    return with_session([&](soci::session& s) -> bool {
      long long alert_id = id, at = at_ms;
      std::string who = by;
      soci::indicator who_ind = who.empty() ? soci::i_null : soci::i_ok;
      soci::statement st = (s.prepare << "UPDATE alerts SET acknowledged = 1, acknowledged_at = :at, "
                                         "acknowledged_by = :by WHERE id = :id AND acknowledged = 0",
                            soci::use(at), soci::use(who, who_ind), soci::use(alert_id));
      st.execute(true);
      if (st.get_affected_rows() > 0) return true;
      long long n = 0;
      s << "SELECT COUNT(*) FROM alerts WHERE id = :id", soci::into(n), soci::use(alert_id);
      return n > 0;
    });
  }

  std::vector<RejectRecord> rejects(const RejectQuery& q) override {
    return with_session([&](soci::session& s) -> std::vector<RejectRecord> {
      SqlBuilder sql("SELECT id, source, topic, ");
      sql.add(d_.select_reject_payload);
      sql.add(", payload_size, reason, detail, received_at FROM rejects WHERE 1 = 1");
      if (q.reason) sql.add(" AND reason = :reason", *q.reason);
      sql.add(" ORDER BY received_at DESC, id DESC");
      sql.add(" LIMIT :limit", static_cast<long long>(std::max(0, q.limit)));
      sql.add(" OFFSET :offset", static_cast<long long>(std::max(0, q.offset)));

      long long id = 0, size = 0, received_at = 0;
      std::string source, topic, payload, reason, detail;
      soci::indicator payload_ind;
      soci::statement st(s);
      st.exchange(soci::into(id));
      st.exchange(soci::into(source));
      st.exchange(soci::into(topic));
      st.exchange(soci::into(payload, payload_ind));
      st.exchange(soci::into(size));
      st.exchange(soci::into(reason));
      st.exchange(soci::into(detail));
      st.exchange(soci::into(received_at));
      run(st, sql, false);
      std::vector<RejectRecord> out;
      while (st.fetch()) {
        RejectRecord r;
        r.id = id;
        r.source = source;
        r.topic = topic;
        if (payload_ind == soci::i_ok) r.payload = d_.hex_blobs ? from_hex(payload) : payload;
        r.payload_size = size;
        r.reason = reason;
        r.detail = detail;
        r.received_at_ms = received_at;
        out.push_back(std::move(r));
      }
      return out;
    });
  }

  std::vector<Rule> rules() override {
    return with_session([&](soci::session& s) -> std::vector<Rule> {
      return detail::fetch_rules(s);
    });
  }

  bool put_rule(const Rule& r) override {
    return with_session([&](soci::session& s) -> bool {
      std::string metric = r.metric, scope = r.scope, scope_value = r.scope_value,
                  severity = r.severity;
      double min_value = r.min.value_or(0), max_value = r.max.value_or(0),
             hysteresis = r.hysteresis;
      soci::indicator min_ind = r.min ? soci::i_ok : soci::i_null;
      soci::indicator max_ind = r.max ? soci::i_ok : soci::i_null;
      // Created-or-replaced is only reported: a race between two writers of the same rule
      // ends in one upsert after the other either way. No transaction around the two: a
      // SQLite read transaction upgraded to a write fails at once when the writer committed.
      long long existing = 0;
      s << "SELECT COUNT(*) FROM rules WHERE metric = :metric AND scope = :scope "
           "AND scope_value = :scope_value",
          soci::into(existing), soci::use(metric), soci::use(scope), soci::use(scope_value);
      soci::statement st = (s.prepare << std::string(d_.upsert_rule), soci::use(metric),
                            soci::use(scope), soci::use(scope_value), soci::use(min_value, min_ind),
                            soci::use(max_value, max_ind), soci::use(severity),
                            soci::use(hysteresis));
      st.execute(true);
      return existing == 0;
    });
  }

  bool delete_rule(const std::string& metric, const std::string& scope,
                   const std::string& scope_value) override {
    return with_session([&](soci::session& s) -> bool {
      std::string m = metric, sc = scope, v = scope_value;
      soci::statement st = (s.prepare << "DELETE FROM rules WHERE metric = :metric AND "
                                         "scope = :scope AND scope_value = :scope_value",
                            soci::use(m), soci::use(sc), soci::use(v));
      st.execute(true);
      return st.get_affected_rows() > 0;
    });
  }

  std::int64_t insert_alert(const Alert& a) override {
    return with_session([&](soci::session& s) -> std::int64_t {
      soci::transaction tx(s);
      std::string device_id = a.device_id;
      long long now = a.raised_received_at_ms;
      {
        soci::statement ins = (s.prepare << std::string(d_.insert_device), soci::use(device_id),
                               soci::use(now), soci::use(now));
        ins.execute(true);
      }
      auto pk = detail::find_device_pk(s, device_id);
      if (!pk) throw std::runtime_error("the device row of " + device_id + " was not created");
      long long device_pk = *pk;
      auto id = detail::insert_alert_row(s, d_, device_pk, a);
      tx.commit();
      return static_cast<std::int64_t>(id);
    });
  }

  void ping() override {
    return with_session([&](soci::session& s) -> void {
      int one = 0;
      s << "SELECT 1", soci::into(one);
      if (one != 1) throw std::runtime_error("database ping returned no row");
    });
  }

  // Devices: the SQL is in device_repository.cpp.
  std::vector<Device> devices(const DeviceQuery& q) override {
    return with_session([&](soci::session& s) { return detail::select_devices(s, q); });
  }
  std::optional<Device> device(const std::string& device_id) override {
    return with_session([&](soci::session& s) { return detail::select_device(s, device_id); });
  }
  bool create_device(const Device& d, const std::string& key_hash) override {
    return with_session([&](soci::session& s) { return detail::create_device(s, d, key_hash); });
  }
  bool update_device(const Device& d) override {
    return with_session([&](soci::session& s) { return detail::update_device(s, d); });
  }
  bool set_device_key(const std::string& device_id, const std::string& key_hash,
                      std::int64_t now_ms) override {
    return with_session(
        [&](soci::session& s) { return detail::set_device_key(s, device_id, key_hash, now_ms); });
  }
  bool device_heartbeat(const std::string& device_id, std::int64_t now_ms) override {
    return with_session(
        [&](soci::session& s) { return detail::device_heartbeat(s, device_id, now_ms); });
  }
  bool delete_device(const std::string& device_id, bool purge, std::int64_t now_ms) override {
    return with_session(
        [&](soci::session& s) { return detail::delete_device(s, device_id, purge, now_ms); });
  }
  std::vector<DeviceKeyHash> device_keys() override {
    return with_session([&](soci::session& s) { return detail::select_device_keys(s); });
  }
  std::map<std::string, std::int64_t> devices_by_status() override {
    return with_session([&](soci::session& s) { return detail::count_devices_by_status(s); });
  }

 private:
  // [from, to) (either bound optional) as whole minutes from the rollups plus the partial
  // minutes at either edge from the raw messages.
  template <class RollupSink, class ValueSink>
  static void for_range(soci::session& s, const Scope& sc, std::optional<std::int64_t> from,
                        std::optional<std::int64_t> to, std::int64_t interval_ms,
                        RollupSink&& on_rollup, ValueSink&& on_value) {
    if (from && to && *to <= *from) return;
    std::optional<std::int64_t> lo, hi;  // whole minutes [lo, hi)
    if (from) lo = ceil_to(*from, kMinute);
    if (to) hi = time::floor_to(*to, kMinute);
    if (lo && hi && *lo >= *hi) {  // within one minute, or across one boundary only
      scan_messages(s, sc, *from, *to, on_value);
      return;
    }
    sum_rollups(s, sc, lo, hi, interval_ms, on_rollup);
    if (from) scan_messages(s, sc, *from, *lo, on_value);
    if (to) scan_messages(s, sc, *hi, *to, on_value);
  }

  // Runs f(session) on a leased session, reopening a lost connection (session_pool.hpp).
  template <class F>
  auto with_session(F&& f) -> decltype(f(std::declval<soci::session&>())) {
    return pool_.with_session(std::forward<F>(f));
  }

  std::size_t pool_in_use() const override { return pool_.in_use(); }
  std::size_t pool_size() const override { return pool_.size(); }

  const detail::SqlDialect& d_;
  detail::SessionPool pool_;
};

}  // namespace

std::unique_ptr<Repository> make_repository(const ConnectionSpec& spec, int pool_size) {
  return std::make_unique<SociRepository>(spec, pool_size);
}

}  // namespace iotd::storage
