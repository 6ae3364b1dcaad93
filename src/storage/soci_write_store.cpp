// The writer's store (store.hpp): one SOCI session, owned by the writer thread. The hot path
// (messages, devices, metric names, rollups, latest values, checkpoint) runs statements
// prepared once and bound to member variables, so a batch costs one execute per row and
// no per-row allocation of ours; rollups, latest values and last-seen times are folded in
// memory and upserted once per key at commit(), as multi-row statements on every dialect
// (SQLite: VALUES rows in chunks of up to 512 keys, shorter chunks as power-of-two pieces
// whose statements are kept; multi_row.hpp).
//
// PostgreSQL and MySQL/MariaDB: the same flow, but messages, rollups, latest values and
// last-seen times go as one statement per chunk of rows, since a round trip per row would
// cap the writer at ~13k rows/s. PostgreSQL: one array parameter per column
// (column_arrays.hpp; 6 parameters for a chunk instead of 6 per row, and one prepared
// statement whatever the chunk size), and the messages themselves by COPY into a staging
// table moved by one INSERT … SELECT (pg_copy.hpp); MySQL: multi-row VALUES (multi_row.hpp).
// Which rows of a chunk were stored (and their ids) comes back as (id, device_pk, ts,
// dedup_key) rows — PostgreSQL: RETURNING; MySQL: SELECT of the rows above the
// transaction's previous MAX(id) (affected-row counts cannot tell, SOCI connects with
// CLIENT_FOUND_ROWS) — matched to the chunk by key: a non-NULL key is stored by its first
// occurrence only, NULL-key rows are all stored, ids in row order.
//
// Lost connections: a failure that looks like one (server restarted, connection reset,
// cannot connect) marks the session broken; a transient failure of another kind on a server
// dialect makes the next call outside a transaction probe the session ("SELECT 1"). The
// next call outside a transaction (the writer's retry: device lookups, begin()) then drops
// every prepared statement, reopens the session, reloads the device and metric caches and
// prepares again; if that fails too it throws a transient error and the writer backs off.
#include <soci/soci.h>

#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "column_arrays.hpp"
#include "command_sql.hpp"
#include "dialect.hpp"
#include "iotd/core/time.hpp"
#include "iotd/storage/database.hpp"
#include "metrics_json.hpp"
#include "multi_row.hpp"
#include "pg_copy.hpp"
#include "retention_sql.hpp"
#include "sql_common.hpp"
#include "wal_checkpointer.hpp"

namespace iotd::storage {
namespace {

constexpr std::int64_t kMinute = 60'000;

struct RollupKey {
  std::int64_t device_pk, metric_id, bucket;
  bool operator==(const RollupKey&) const = default;
};
struct LatestKey {
  std::int64_t device_pk, metric_id;
  bool operator==(const LatestKey&) const = default;
};
struct KeyHash {
  static std::size_t mix(std::uint64_t h, std::uint64_t v) {
    return static_cast<std::size_t>((h ^ v) * 0x9E3779B97F4A7C15ull);
  }
  std::size_t operator()(const RollupKey& k) const {
    return mix(mix(mix(0, k.device_pk), k.metric_id), k.bucket);
  }
  std::size_t operator()(const LatestKey& k) const { return mix(mix(0, k.device_pk), k.metric_id); }
};

struct RollupAgg {
  long long n = 0;
  double sum = 0, min = 0, max = 0;
};
struct LatestCandidate {
  std::int64_t ts = 0;
  double value = 0;
};

class SociWriteStore final : public WriteStore {
 public:
  explicit SociWriteStore(const ConnectionSpec& spec)
      : spec_(spec), d_(detail::sql_dialect(detail::dialect_of(spec))),
        sql_(detail::open_session(spec)) {
    try {
      init_session();
    } catch (const soci::soci_error& e) {
      throw std::runtime_error("cannot prepare the writer on " + spec_.display + ": " + e.what());
    }
  }

  ~SociWriteStore() override { rollback(); }

  // --- start-up reads ---

  std::optional<Checkpoint> load_checkpoint(const std::string& instance_id) override {
    return guarded([&]() -> std::optional<Checkpoint> {
      std::string uuid;
      long long seq = 0;
      *sql_ << "SELECT journal_uuid, seq FROM ingest_checkpoint WHERE instance_id = :i",
          soci::into(uuid), soci::into(seq), soci::use(instance_id);
      if (!sql_->got_data()) return std::nullopt;
      return Checkpoint{uuid, static_cast<std::uint64_t>(seq)};
    });
  }

  std::vector<Alert> active_alerts() override {
    return guarded([&] {
      detail::SqlBuilder q(detail::kSelectAlerts);
      q.add(" WHERE a.state = 'active' ORDER BY a.raised_ts, a.id");
      return detail::fetch_alerts(*sql_, q);
    });
  }

  std::vector<Rule> rules() override {
    return guarded([&] { return detail::fetch_rules(*sql_); });
  }

  std::vector<DeviceLatest> load_latest() override {
    return guarded([&] {
      std::string device_id, name;
      long long last_seen = 0, ts = 0;
      double value = 0;
      soci::indicator seen_ind, name_ind, ts_ind, value_ind;
      soci::statement st =
          (sql_->prepare << "SELECT d.device_id, d.last_seen_at, mn.name, lv.ts, lv.value "
                            "FROM devices d "
                            "LEFT JOIN latest_values lv ON lv.device_pk = d.pk "
                            "LEFT JOIN metric_names mn ON mn.id = lv.metric_id "
                            "WHERE d.status <> 'deleted' ORDER BY d.device_id",
           soci::into(device_id), soci::into(last_seen, seen_ind), soci::into(name, name_ind),
           soci::into(ts, ts_ind), soci::into(value, value_ind));
      st.execute();
      std::vector<DeviceLatest> out;
      while (st.fetch()) {
        if (out.empty() || out.back().device_id != device_id) {
          out.emplace_back();
          out.back().device_id = device_id;
          out.back().last_seen_at_ms = seen_ind == soci::i_ok ? last_seen : 0;
        }
        if (name_ind == soci::i_ok && ts_ind == soci::i_ok && value_ind == soci::i_ok)
          out.back().metrics[name] = LatestValue{value, ts};
      }
      // Devices registered but never heard from have nothing to show.
      std::erase_if(out, [](const DeviceLatest& d) {
        return d.metrics.empty() && d.last_seen_at_ms == 0;
      });
      return out;
    });
  }

  // --- devices ---

  // A device deleted without purge (status "deleted") is not known: it is admitted again
  // only by auto-registration, which revives its row (device_pk_for).
  bool device_known(const std::string& device_id) override {
    if (devices_.contains(device_id)) return !deleted_.contains(device_id);
    return guarded([&] {
      // Registered by someone else (the devices API) since we loaded the cache? Asked once
      // per device new to this session: with a new fleet, once per device of it.
      known_.device_id = device_id;
      select_known_->execute(true);
      if (!select_known_->got_data()) return false;
      run_to_completion(*select_known_);
      devices_.emplace(device_id, known_.pk);
      if (known_.type_ind == soci::i_ok && !known_.type.empty()) device_types_[device_id] = known_.type;
      if (in_tx_) new_devices_.push_back(device_id);  // we cannot tell who created it
      if (known_.status == "deleted") {
        deleted_.insert(device_id);
        return false;
      }
      return true;
    });
  }

  std::int64_t device_count() override {
    return guarded([&] {
      long long n = 0;
      // Sees our open transaction.
      *sql_ << "SELECT COUNT(*) FROM devices WHERE status <> 'deleted'", soci::into(n);
      return static_cast<std::int64_t>(n);
    });
  }

  std::string_view device_type(const std::string& device_id) override {
    auto it = device_types_.find(device_id);
    return it == device_types_.end() ? std::string_view{} : std::string_view{it->second};
  }

  void forget_device(const std::string& device_id) override {
    devices_.erase(device_id);
    device_types_.erase(device_id);
    deleted_.erase(device_id);
  }

  // --- batch ---

  void begin() override {
    guarded([&] {
      if (in_tx_) throw std::logic_error("WriteStore::begin() inside an open transaction");
      *sql_ << d_.begin_write;
      in_tx_ = true;
    });
  }

  std::vector<std::optional<std::int64_t>> insert_messages(std::span<const Reading> rs) override {
    return guarded([&] {
      require_tx("insert_messages");
      std::vector<std::optional<std::int64_t>> out;
      out.reserve(rs.size());
      if (d_.multi_row) {
        const std::size_t chunk = d_.message_chunk;
        for (std::size_t i = 0; i < rs.size(); i += chunk)
          insert_chunk(rs.subspan(i, std::min(chunk, rs.size() - i)), out);
      } else {
        for (const Reading& r : rs) out.push_back(insert_message(r));
      }
      return out;
    });
  }

  std::int64_t insert_alert(const Alert& a) override {
    return guarded([&] {
      require_tx("insert_alert");
      long long device_pk = device_pk_for(a.device_id, a.raised_received_at_ms);
      return detail::insert_alert_row(*sql_, d_, device_pk, a);
    });
  }

  // The acknowledgement columns belong to users (Repository::acknowledge_alert) and are
  // not written here, so the writer's copy of an alert never undoes an acknowledgement.
  void update_alert(const Alert& a) override {
    guarded([&] {
      require_tx("update_alert");
      std::string severity = a.severity, state = a.state, message = a.message;
      double tmin = a.threshold_min.value_or(0), tmax = a.threshold_max.value_or(0);
      double last = a.last_value, peak = a.peak_value;
      long long count = a.count, updated_ts = a.updated_ts_ms,
                cleared_ts = a.cleared_ts_ms.value_or(0), id = a.id;
      soci::indicator tmin_ind = a.threshold_min ? soci::i_ok : soci::i_null;
      soci::indicator tmax_ind = a.threshold_max ? soci::i_ok : soci::i_null;
      soci::indicator cleared_ind = a.cleared_ts_ms ? soci::i_ok : soci::i_null;
      *sql_ << "UPDATE alerts SET severity = :severity, state = :state, message = :message, "
               "threshold_min = :tmin, threshold_max = :tmax, last_value = :last, "
               "peak_value = :peak, count = :count, updated_ts = :updated_ts, "
               "cleared_ts = :cleared_ts WHERE id = :id",
          soci::use(severity), soci::use(state), soci::use(message), soci::use(tmin, tmin_ind),
          soci::use(tmax, tmax_ind), soci::use(last), soci::use(peak), soci::use(count),
          soci::use(updated_ts), soci::use(cleared_ts, cleared_ind), soci::use(id);
    });
  }

  void insert_rejects(std::span<const RejectRecord> rs) override {
    guarded([&] {
      require_tx("insert_rejects");
      for (const RejectRecord& r : rs) {
        rej_.source = r.source;
        rej_.topic = r.topic;
        rej_.payload = d_.hex_blobs ? to_hex(r.payload) : r.payload;
        rej_.payload_size = r.payload_size;
        rej_.reason = r.reason;
        rej_.detail = r.detail;
        rej_.received_at = r.received_at_ms;
        insert_reject_->execute(true);
      }
    });
  }

  void save_checkpoint(const std::string& instance_id, const Checkpoint& cp) override {
    guarded([&] {
      require_tx("save_checkpoint");
      cp_.instance_id = instance_id;
      cp_.journal_uuid = cp.journal_uuid;
      cp_.seq = static_cast<long long>(cp.seq);
      cp_.updated_at = time::now_ms();
      upsert_checkpoint_->execute(true);
    });
  }

  std::vector<AckMatch> apply_command_acks(std::span<const CommandAckUpdate> acks) override {
    return guarded([&] {
      require_tx("apply_command_acks");
      return detail::apply_command_acks(*sql_, acks);
    });
  }

  // Several instances (docs/architecture.md §21): the devices' rows stay locked until the
  // commit, so another instance's batch for one of them waits and then reads what this one
  // committed. Primary keys are integers from our cache: written into the text, not bound.
  std::optional<std::vector<Alert>> lock_alarm_state(std::span<const std::string> device_ids) override {
    return guarded([&]() -> std::optional<std::vector<Alert>> {
      require_tx("lock_alarm_state");
      std::vector<std::int64_t> pks;
      pks.reserve(device_ids.size());
      for (const auto& id : device_ids)
        if (auto it = devices_.find(id); it != devices_.end()) pks.push_back(it->second);
      std::vector<Alert> out;
      if (pks.empty()) return out;
      std::sort(pks.begin(), pks.end());
      pks.erase(std::unique(pks.begin(), pks.end()), pks.end());
      std::string in;
      for (auto pk : pks) in += (in.empty() ? "" : ",") + std::to_string(pk);
      if (d_.kind != detail::Dialect::sqlite) {  // SQLite: BEGIN IMMEDIATE locks the file
        std::vector<long long> locked(pks.size());
        *sql_ << "SELECT pk FROM devices WHERE pk IN (" + in + ") ORDER BY pk FOR UPDATE", soci::into(locked);
      }
      detail::SqlBuilder q(detail::kSelectAlerts);
      q.add(" WHERE a.state = 'active' AND a.device_pk IN (" + in + ") ORDER BY a.raised_ts, a.id");
      return detail::fetch_alerts(*sql_, q);
    });
  }

  void notify(const std::string& channel, const std::string& payload) override {
    if (d_.kind != detail::Dialect::postgresql) return;
    guarded([&] {
      require_tx("notify");
      std::string c = channel, p = payload;
      *sql_ << "SELECT pg_notify(:c, :p)", soci::use(c), soci::use(p);
    });
  }

  void commit() override {
    guarded([&] {
      require_tx("commit");
      flush_upserts();
      *sql_ << d_.commit;
      in_tx_ = false;
      if (checkpointer_) checkpointer_->after_commit(*sql_);
      new_devices_.clear();
      new_metrics_.clear();
      revived_.clear();
      clear_accumulators();
    });
  }

  void rollback() noexcept override {
    if (in_tx_ && sql_ && !broken_) {
      try {
        *sql_ << d_.rollback;  // fails harmlessly if the database already rolled back
      } catch (...) {
      }
    }
    in_tx_ = false;
    id_floor_.reset();
    for (auto* m : {&mr_messages_, &mr_rollup_, &mr_latest_, &mr_seen_})
      if (*m) (*m)->clear();
    try {
      for (const auto& id : revived_) deleted_.insert(id);
      for (const auto& id : new_devices_) devices_.erase(id);
      for (const auto& name : new_metrics_) metrics_.erase(name);
    } catch (...) {
    }
    new_devices_.clear();
    new_metrics_.clear();
    revived_.clear();
    clear_accumulators();
  }

  bool last_error_transient() const override { return transient_; }

  // Retention (docs/architecture.md §17): a short transaction of its own between batches.
  PurgeStep delete_expired(RetentionTable table, std::int64_t cutoff_ms, std::size_t max_rows) override {
    return guarded([&] {
      if (in_tx_) throw std::logic_error("WriteStore::delete_expired() inside an open transaction");
      auto step = detail::delete_expired(*sql_, d_, table, cutoff_ms, max_rows);
      if (checkpointer_) checkpointer_->after_commit(*sql_);
      return step;
    });
  }

 private:
  template <class F>
  auto guarded(F&& f) -> decltype(f()) {
    try {
      ensure_session();
      return f();
    } catch (const std::exception& e) {
      transient_ = detail::is_transient_error(e);
      if (detail::is_connection_error(e))
        broken_ = true;
      else if (transient_ && d_.kind != detail::Dialect::sqlite)
        suspect_ = true;
      throw;
    }
  }

  // Outside a transaction only: a transaction never spans two sessions (after a failure the
  // caller rolls back first).
  void ensure_session() {
    if (in_tx_) return;
    if (suspect_ && !broken_) {
      suspect_ = false;
      try {
        *sql_ << "SELECT 1";
      } catch (const std::exception&) {
        broken_ = true;
      }
    }
    if (broken_) reopen();
  }

  // The session, its prepared statements and caches, from scratch. Throws (leaving broken_
  // set, the session closed) when the database cannot be reached.
  void reopen() {
    drop_session();
    sql_ = detail::open_session(spec_);
    init_session();
    broken_ = false;
    suspect_ = false;
  }

  void init_session() {
    if (d_.kind == detail::Dialect::sqlite)
      checkpointer_ = std::make_unique<detail::WalCheckpointer>(spec_, *sql_);
    load_caches();
    prepare_statements();
  }

  // Statements first: they refer to the session.
  void drop_session() noexcept {
    for (auto* st : {&insert_message_, &insert_device_, &select_device_, &select_known_,
                     &insert_metric_, &select_metric_, &upsert_checkpoint_, &insert_reject_})
      st->reset();
    pg_messages_ = nullptr;
    for (auto* m : {&mr_messages_, &mr_rollup_, &mr_latest_, &mr_seen_}) m->reset();
    checkpointer_.reset();
    sql_.reset();
    devices_.clear();
    device_types_.clear();
    deleted_.clear();
    revived_.clear();
    metrics_.clear();
    new_devices_.clear();
    new_metrics_.clear();
  }

  void require_tx(const char* what) const {
    if (!in_tx_) throw std::logic_error(std::string("WriteStore::") + what + "() outside begin()");
  }

  // A SQLite statement that has not reached its end keeps the connection's read snapshot
  // open, even past COMMIT; the next BEGIN IMMEDIATE would then fail with "database is
  // locked" (a stale snapshot cannot be upgraded) as soon as another connection has written.
  static void run_to_completion(soci::statement& st) {
    while (st.fetch()) {
    }
  }

  static std::string to_hex(const std::string& bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
    return out;
  }

  void load_caches() {
    std::vector<long long> ids(1000);
    std::vector<std::string> names(1000);
    {
      soci::statement st =
          (sql_->prepare << "SELECT pk, device_id FROM devices", soci::into(ids), soci::into(names));
      st.execute();
      while (st.fetch())
        for (std::size_t i = 0; i < ids.size(); ++i) devices_.emplace(names[i], ids[i]);
    }
    {
      // The rule engine's device types, and the devices deleted without purge.
      std::string id, type, status;
      soci::indicator type_ind;
      soci::statement st = (sql_->prepare << "SELECT device_id, type, status FROM devices "
                                             "WHERE type IS NOT NULL OR status = 'deleted'",
                            soci::into(id), soci::into(type, type_ind), soci::into(status));
      st.execute();
      while (st.fetch()) {
        if (type_ind == soci::i_ok && !type.empty()) device_types_[id] = type;
        if (status == "deleted") deleted_.insert(id);
      }
    }
    ids.resize(1000);
    names.resize(1000);
    {
      soci::statement st =
          (sql_->prepare << "SELECT id, name FROM metric_names", soci::into(ids), soci::into(names));
      st.execute();
      while (st.fetch())
        for (std::size_t i = 0; i < ids.size(); ++i) metrics_.emplace(names[i], ids[i]);
    }
  }

  void prepare_statements() {
    using soci::into;
    using soci::use;
    soci::session& s = *sql_;
    if (d_.ids == detail::IdRetrieval::returning) {
      insert_message_.emplace((s.prepare << d_.insert_message, use(msg_.device_pk), use(msg_.ts),
                               use(msg_.received_at), use(msg_.dedup_key, msg_.dedup_ind),
                               use(msg_.metrics), use(msg_.extra, msg_.extra_ind),
                               into(msg_.id)));
    } else {
      insert_message_.emplace((s.prepare << d_.insert_message, use(msg_.device_pk), use(msg_.ts),
                               use(msg_.received_at), use(msg_.dedup_key, msg_.dedup_ind),
                               use(msg_.metrics), use(msg_.extra, msg_.extra_ind)));
    }
    insert_device_.emplace((s.prepare << d_.insert_device, use(dev_.device_id),
                            use(dev_.created_at), use(dev_.updated_at)));
    select_device_.emplace((s.prepare << "SELECT pk FROM devices WHERE device_id = :device_id",
                            into(dev_.pk), use(dev_.device_id)));
    select_known_.emplace((s.prepare << "SELECT pk, type, status FROM devices WHERE device_id = :device_id",
                           into(known_.pk), into(known_.type, known_.type_ind), into(known_.status),
                           use(known_.device_id)));
    insert_metric_.emplace((s.prepare << d_.insert_metric_name, use(met_.name)));
    select_metric_.emplace((s.prepare << "SELECT id FROM metric_names WHERE name = :name",
                            into(met_.id), use(met_.name)));
    upsert_checkpoint_.emplace((s.prepare << d_.upsert_checkpoint, use(cp_.instance_id),
                                use(cp_.journal_uuid), use(cp_.seq), use(cp_.updated_at)));
    insert_reject_.emplace((s.prepare << d_.insert_reject, use(rej_.source), use(rej_.topic),
                            use(rej_.payload), use(rej_.payload_size), use(rej_.reason),
                            use(rej_.detail), use(rej_.received_at)));
    prepare_multi_row();
  }

  void prepare_multi_row() {
    using T = detail::ColumnType;
    using detail::ColumnArrayStatement;
    using detail::MultiRowStatement;
    detail::BatchStatement::IntoBinder returning;
    if (d_.ids == detail::IdRetrieval::returning)
      returning = [this](soci::statement& st) {
        st.exchange(soci::into(ret_.id));
        st.exchange(soci::into(ret_.device_pk));
        st.exchange(soci::into(ret_.ts));
        st.exchange(soci::into(ret_.dedup_key, ret_.dedup_ind));
      };
    const std::vector messages{T::integer, T::integer, T::integer, T::integer, T::text, T::text};
    const std::vector rollup{T::integer, T::integer, T::integer, T::integer, T::real, T::real, T::real};
    const std::vector latest{T::integer, T::integer, T::integer, T::real};
    const std::vector seen{T::integer, T::integer};
    constexpr std::string_view kMessages =
        "INSERT INTO messages(device_pk, ts, received_at, dedup_key, metrics, extra) ";
    constexpr std::string_view kRollup =
        "INSERT INTO rollup_1m(device_pk, metric_id, bucket, n, sum, min, max) ";
    constexpr std::string_view kLatest = "INSERT INTO latest_values(device_pk, metric_id, ts, value) ";
    // devices.last_seen_at = max(itself, the batch's newest received_at), per device.
    if (d_.kind == detail::Dialect::sqlite) {
      // Messages stay single-row (insert_message_); commit()'s upserts go as VALUES rows.
      // A VALUES table's columns are column1, column2, ….
      auto values = [](std::string_view head) { return std::string(head) + "VALUES "; };
      // Positional "?" placeholders: SQLite looks each ":name" up in a list while preparing,
      // quadratic in their number (measured: most of the first commits' cost).
      auto rows = [this](std::string head, std::string_view tail, const std::vector<T>& cols) {
        const std::size_t n = cols.size();
        auto row_text = [n](std::size_t row, std::size_t) {
          std::string out = row == 0 ? "(?" : ",(?";
          for (std::size_t c = 1; c < n; ++c) out += ",?";
          return out + ')';
        };
        auto st = std::make_unique<MultiRowStatement>(*sql_, std::move(head), std::string(tail),
                                                      cols, d_.upsert_chunk, row_text);
        st->split_partial_chunks();
        return st;
      };
      mr_rollup_ = rows(values(kRollup), d_.rollup_tail, rollup);
      mr_latest_ = rows(values(kLatest), d_.latest_tail, latest);
      mr_seen_ = rows("UPDATE devices SET last_seen_at = v.column2 FROM (VALUES ",
                      ") AS v WHERE devices.pk = v.column1 AND "
                      "(devices.last_seen_at IS NULL OR devices.last_seen_at < v.column2)",
                      seen);
      return;
    }
    if (d_.column_arrays) {
      // INSERT … SELECT emits the rows, and so draws the ids, in array order.
      auto select = [](std::string_view head, const std::vector<T>& cols, std::string_view tail) {
        return std::string(head) + "SELECT * FROM " + ColumnArrayStatement::unnest(cols) +
               std::string(tail);
      };
      // The messages by COPY straight into the table under a savepoint, ids drawn from its
      // sequence for exactly the chunk; a chunk holding a duplicate goes by COPY into a
      // staging table, then one INSERT … SELECT in row order with the same ids, the same
      // conflict clause and RETURNING as an array statement (pg_copy.hpp). The rollups and
      // latest values stay array statements (docs/architecture.md §10: staging them measured
      // no cheaper).
      auto copy = std::make_unique<detail::CopyStageStatement>(
          *sql_, "iotd_stage_messages",
          "INSERT INTO messages(id, device_pk, ts, received_at, dedup_key, metrics, extra) " +
              detail::CopyStageStatement::select("iotd_stage_messages", messages.size(), true) +
              std::string(d_.messages_tail),
          messages, d_.message_chunk, returning,
          detail::DirectCopy{"messages", "id",
                             {"device_pk", "ts", "received_at", "dedup_key", "metrics", "extra"}});
      pg_messages_ = copy.get();
      mr_messages_ = std::move(copy);
      mr_rollup_ = std::make_unique<ColumnArrayStatement>(
          *sql_, select(kRollup, rollup, d_.rollup_tail), rollup, d_.upsert_chunk);
      mr_latest_ = std::make_unique<ColumnArrayStatement>(
          *sql_, select(kLatest, latest, d_.latest_tail), latest, d_.upsert_chunk);
      mr_seen_ = std::make_unique<ColumnArrayStatement>(
          *sql_,
          "UPDATE devices AS d SET last_seen_at = v.at FROM " + ColumnArrayStatement::unnest(seen) +
              " AS v(pk, at) WHERE d.pk = v.pk AND (d.last_seen_at IS NULL OR d.last_seen_at < v.at)",
          seen, d_.upsert_chunk);
      return;
    }
    // MySQL.
    auto values = [](std::string_view head) { return std::string(head) + "VALUES "; };
    mr_messages_ = std::make_unique<MultiRowStatement>(
        *sql_, values(kMessages), std::string(d_.messages_tail), messages, d_.message_chunk,
        MultiRowStatement::RowText{}, returning);
    mr_rollup_ = std::make_unique<MultiRowStatement>(*sql_, values(kRollup), std::string(d_.rollup_tail),
                                                     rollup, d_.upsert_chunk);
    mr_latest_ = std::make_unique<MultiRowStatement>(*sql_, values(kLatest), std::string(d_.latest_tail),
                                                     latest, d_.upsert_chunk);
    using P = MultiRowStatement;
    mr_seen_ = std::make_unique<MultiRowStatement>(
        *sql_, "UPDATE devices AS d JOIN (",
        ") AS v ON d.pk = v.pk SET d.last_seen_at = v.at "
        "WHERE d.last_seen_at IS NULL OR d.last_seen_at < v.at",
        seen, d_.upsert_chunk, [](std::size_t row, std::size_t first) {
          return row == 0 ? "SELECT " + P::placeholder(first) + " AS pk, " +
                                P::placeholder(first + 1) + " AS at"
                          : " UNION ALL SELECT " + P::placeholder(first) + ", " +
                                P::placeholder(first + 1);
        });
  }

  // One chunk of readings as one multi-row INSERT; appends each reading's id (or nullopt
  // for a content duplicate) to `out`.
  void insert_chunk(std::span<const Reading> rs, std::vector<std::optional<std::int64_t>>& out) {
    auto& m = *mr_messages_;
    chunk_device_pk_.resize(rs.size());
    chunk_metric_ids_.resize(rs.size());
    for (std::size_t i = 0; i < rs.size(); ++i) {
      const Reading& r = rs[i];
      chunk_device_pk_[i] = device_pk_for(r.device_id, r.received_at_ms);
      chunk_metric_ids_[i].clear();
      for (const auto& [name, value] : r.metrics)
        chunk_metric_ids_[i].push_back(metric_id_for(name));
      m.add_row();
      m.set(0, static_cast<long long>(chunk_device_pk_[i]));
      m.set(1, static_cast<long long>(r.ts_ms));
      m.set(2, static_cast<long long>(r.received_at_ms));
      if (r.dedup_key) m.set(3, static_cast<long long>(*r.dedup_key));
      detail::write_metrics_json(msg_.metrics, r.metrics);
      m.set(4, msg_.metrics);
      if (!r.extra_json.empty()) m.set(5, r.extra_json);
    }

    // The rows this statement stored: (device_pk, ts, has key, key) -> ids, ascending.
    stored_.clear();
    auto collect = [&](soci::statement& st) {
      auto take = [&] {
        for (std::size_t k = 0; k < ret_.id.size(); ++k) {
          const bool keyed = ret_.dedup_ind[k] == soci::i_ok;
          stored_[StoredKey{ret_.device_pk[k], ret_.ts[k], keyed, keyed ? ret_.dedup_key[k] : 0}]
              .push_back(ret_.id[k]);
          if (!id_floor_ || ret_.id[k] > *id_floor_) id_floor_ = ret_.id[k];
        }
      };
      if (!st.got_data()) return;
      take();
      while (st.fetch()) take();
    };
    if (d_.ids == detail::IdRetrieval::returning) {
      ret_.resize(d_.message_chunk);
      soci::statement* st = m.execute(true);
      if (!st && pg_messages_) {  // every row stored by the direct COPY, ids in row order
        const auto ids = pg_messages_->stored_directly();
        for (std::size_t i = 0; i < rs.size(); ++i) {
          out.push_back(ids[i]);
          account(rs[i], chunk_device_pk_[i], chunk_metric_ids_[i]);
        }
        return;
      }
      collect(*st);
    } else {
      if (!id_floor_) {  // the transaction's first chunk; the snapshot hides later writers
        long long floor = 0;
        soci::indicator ind = soci::i_null;
        *sql_ << "SELECT MAX(id) FROM messages", soci::into(floor, ind);
        id_floor_ = ind == soci::i_ok ? floor : 0;
      }
      m.execute(true);
      ret_.resize(d_.message_chunk);
      long long floor = *id_floor_;
      soci::statement st = (sql_->prepare << "SELECT id, device_pk, ts, dedup_key FROM messages "
                                             "WHERE id > :floor ORDER BY id",
                            soci::into(ret_.id), soci::into(ret_.device_pk), soci::into(ret_.ts),
                            soci::into(ret_.dedup_key, ret_.dedup_ind), soci::use(floor));
      st.execute(true);
      collect(st);
    }

    for (std::size_t i = 0; i < rs.size(); ++i) {
      const Reading& r = rs[i];
      std::optional<std::int64_t> id;
      auto it = stored_.find(StoredKey{chunk_device_pk_[i], r.ts_ms, r.dedup_key.has_value(),
                                       r.dedup_key.value_or(0)});
      if (it != stored_.end() && it->second.next < it->second.ids.size())
        id = it->second.ids[it->second.next++];
      out.push_back(id);
      if (id) account(r, chunk_device_pk_[i], chunk_metric_ids_[i]);
    }
  }

  // commit(): rollups, latest values and last-seen times as multi-row upserts in key order
  // (each key once: they are folded per key in account(), so no statement touches a row
  // twice).
  void flush_upserts() {
    rollup_order_.assign(rollups_.begin(), rollups_.end());
    std::sort(rollup_order_.begin(), rollup_order_.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first.device_pk, a.first.bucket, a.first.metric_id) <
             std::tie(b.first.device_pk, b.first.bucket, b.first.metric_id);
    });
    auto& ru = *mr_rollup_;
    for (const auto& [k, agg] : rollup_order_) {
      ru.add_row();
      ru.set(0, static_cast<long long>(k.device_pk));
      ru.set(1, static_cast<long long>(k.metric_id));
      ru.set(2, static_cast<long long>(k.bucket));
      ru.set(3, agg.n);
      ru.set(4, agg.sum);
      ru.set(5, agg.min);
      ru.set(6, agg.max);
      if (ru.full()) ru.execute();
    }
    ru.execute();
    latest_order_.assign(latest_.begin(), latest_.end());
    std::sort(latest_order_.begin(), latest_order_.end(), [](const auto& a, const auto& b) {
      return std::tie(a.first.device_pk, a.first.metric_id) <
             std::tie(b.first.device_pk, b.first.metric_id);
    });
    auto& la = *mr_latest_;
    for (const auto& [k, c] : latest_order_) {
      la.add_row();
      la.set(0, static_cast<long long>(k.device_pk));
      la.set(1, static_cast<long long>(k.metric_id));
      la.set(2, static_cast<long long>(c.ts));
      la.set(3, c.value);
      if (la.full()) la.execute();
    }
    la.execute();
    seen_order_.assign(last_seen_.begin(), last_seen_.end());
    std::sort(seen_order_.begin(), seen_order_.end());
    auto& se = *mr_seen_;
    for (const auto& [pk, at] : seen_order_) {
      se.add_row();
      se.set(0, static_cast<long long>(pk));
      se.set(1, static_cast<long long>(at));
      if (se.full()) se.execute();
    }
    se.execute();
    id_floor_.reset();
  }

  // Resolves a device, creating it (inside the open transaction) when new.
  std::int64_t device_pk_for(const std::string& device_id, std::int64_t now) {
    if (auto it = devices_.find(device_id); it != devices_.end()) {
      if (deleted_.contains(device_id)) revive(device_id, it->second, now);
      return it->second;
    }
    dev_.device_id = device_id;
    dev_.created_at = now;
    dev_.updated_at = now;
    insert_device_->execute(true);  // nothing on conflict: another writer may have made it
    select_device_->execute(true);
    if (!select_device_->got_data())
      throw std::runtime_error("device '" + device_id + "' vanished while being created");
    run_to_completion(*select_device_);
    devices_.emplace(device_id, dev_.pk);
    new_devices_.push_back(device_id);
    return dev_.pk;
  }

  // A device deleted without purge that publishes again (admitted by auto-registration) is
  // active again, with its old readings. Rare: one UPDATE, inside the open transaction.
  void revive(const std::string& device_id, long long pk, std::int64_t now) {
    long long at = now;
    *sql_ << "UPDATE devices SET status = 'active', updated_at = :now WHERE pk = :pk",
        soci::use(at), soci::use(pk);
    deleted_.erase(device_id);
    revived_.push_back(device_id);
  }

  std::int64_t metric_id_for(const std::string& name) {
    if (auto it = metrics_.find(name); it != metrics_.end()) return it->second;
    met_.name = name;
    insert_metric_->execute(true);
    select_metric_->execute(true);
    if (!select_metric_->got_data())
      throw std::runtime_error("metric name '" + name + "' vanished while being created");
    run_to_completion(*select_metric_);
    metrics_.emplace(name, met_.id);
    new_metrics_.push_back(name);
    return met_.id;
  }

  std::optional<std::int64_t> insert_message(const Reading& r) {
    const std::int64_t device_pk = device_pk_for(r.device_id, r.received_at_ms);
    metric_ids_.clear();
    for (const auto& [name, value] : r.metrics) metric_ids_.push_back(metric_id_for(name));

    msg_.device_pk = device_pk;
    msg_.ts = r.ts_ms;
    msg_.received_at = r.received_at_ms;
    msg_.dedup_key = r.dedup_key.value_or(0);
    msg_.dedup_ind = r.dedup_key ? soci::i_ok : soci::i_null;
    detail::write_metrics_json(msg_.metrics, r.metrics);
    msg_.extra.assign(r.extra_json);
    msg_.extra_ind = r.extra_json.empty() ? soci::i_null : soci::i_ok;

    std::optional<std::int64_t> id;
    if (d_.ids == detail::IdRetrieval::returning) {
      insert_message_->execute(true);
      if (insert_message_->got_data()) {
        id = msg_.id;
        run_to_completion(*insert_message_);
      }
    } else {
      insert_message_->execute(true);
      if (insert_message_->get_affected_rows() > 0) {
        long long v = 0;
        sql_->get_last_insert_id("messages", v);
        id = v;
      }
    }
    if (!id) return id;  // content duplicate: already stored, already rolled up
    account(r, device_pk, metric_ids_);
    return id;
  }

  // Folds a stored reading into the rollups, latest values and last-seen times of the batch.
  void account(const Reading& r, std::int64_t device_pk, const std::vector<std::int64_t>& metric_ids) {
    const std::int64_t bucket = time::floor_to(r.ts_ms, kMinute);
    for (std::size_t i = 0; i < r.metrics.size(); ++i) {
      const double v = r.metrics[i].second;
      auto [it, fresh] = rollups_.try_emplace(RollupKey{device_pk, metric_ids[i], bucket});
      RollupAgg& a = it->second;
      if (fresh || v < a.min) a.min = v;
      if (fresh || v > a.max) a.max = v;
      a.sum += v;
      ++a.n;
      auto [lit, lfresh] = latest_.try_emplace(LatestKey{device_pk, metric_ids[i]},
                                               LatestCandidate{r.ts_ms, v});
      if (!lfresh && r.ts_ms >= lit->second.ts) lit->second = LatestCandidate{r.ts_ms, v};
    }
    auto [sit, sfresh] = last_seen_.try_emplace(device_pk, r.received_at_ms);
    if (!sfresh && r.received_at_ms > sit->second) sit->second = r.received_at_ms;
  }

  void clear_accumulators() noexcept {
    rollups_.clear();
    latest_.clear();
    last_seen_.clear();
    rollup_order_.clear();
    latest_order_.clear();
    seen_order_.clear();
  }

  ConnectionSpec spec_;
  const detail::SqlDialect& d_;
  std::unique_ptr<soci::session> sql_;
  std::unique_ptr<detail::WalCheckpointer> checkpointer_;  // SQLite only
  bool in_tx_ = false;
  bool transient_ = false;
  bool broken_ = false;   // the session must be reopened before its next use
  bool suspect_ = false;  // probe the session before its next use

  std::unordered_map<std::string, std::int64_t> devices_;  // device_id -> pk
  std::unordered_map<std::string, std::string> device_types_;  // device_id -> type, if any
  std::unordered_set<std::string> deleted_;  // device ids deleted without purge
  std::vector<std::string> revived_;         // taken out of deleted_ in the open transaction
  std::unordered_map<std::string, std::int64_t> metrics_;  // name -> id
  std::vector<std::string> new_devices_, new_metrics_;     // created in the open transaction
  std::vector<std::int64_t> metric_ids_;                   // scratch, per reading

  std::unordered_map<RollupKey, RollupAgg, KeyHash> rollups_;
  std::unordered_map<LatestKey, LatestCandidate, KeyHash> latest_;
  std::unordered_map<std::int64_t, std::int64_t> last_seen_;  // device pk -> max received_at
  std::vector<std::pair<RollupKey, RollupAgg>> rollup_order_;   // scratch for commit()
  std::vector<std::pair<LatestKey, LatestCandidate>> latest_order_;

  // Values bound to the prepared statements below (by reference: this object never moves).
  struct {
    long long device_pk = 0, ts = 0, received_at = 0, dedup_key = 0, id = 0;
    soci::indicator dedup_ind = soci::i_null, extra_ind = soci::i_null;
    std::string metrics, extra;
  } msg_;
  struct {
    std::string device_id;
    long long created_at = 0, updated_at = 0, pk = 0;
  } dev_;
  struct {
    std::string device_id, type, status;
    long long pk = 0;
    soci::indicator type_ind = soci::i_null;
  } known_;
  struct {
    std::string name;
    long long id = 0;
  } met_;
  struct {
    std::string instance_id, journal_uuid;
    long long seq = 0, updated_at = 0;
  } cp_;
  struct {
    std::string source, topic, payload, reason, detail;
    long long payload_size = 0, received_at = 0;
  } rej_;

  // Server dialects (multi_row): chunked statements and what a chunk stored.
  struct StoredKey {
    std::int64_t device_pk, ts;
    bool keyed;
    std::int64_t key;
    auto operator<=>(const StoredKey&) const = default;
  };
  struct StoredIds {
    std::vector<std::int64_t> ids;  // ascending
    std::size_t next = 0;
    void push_back(std::int64_t id) { ids.push_back(id); }
  };
  std::unique_ptr<detail::BatchStatement> mr_messages_, mr_rollup_, mr_latest_, mr_seen_;
  detail::CopyStageStatement* pg_messages_ = nullptr;  // mr_messages_ on PostgreSQL
  struct {
    std::vector<long long> id, device_pk, ts, dedup_key;
    std::vector<soci::indicator> dedup_ind;
    void resize(std::size_t n) {
      for (auto* v : {&id, &device_pk, &ts, &dedup_key}) v->resize(n);
      dedup_ind.resize(n);
    }
  } ret_;
  std::map<StoredKey, StoredIds> stored_;
  std::vector<std::int64_t> chunk_device_pk_;
  std::vector<std::vector<std::int64_t>> chunk_metric_ids_;
  std::vector<std::pair<std::int64_t, std::int64_t>> seen_order_;
  std::optional<long long> id_floor_;  // MySQL: ids above it were stored by this transaction

  std::optional<soci::statement> insert_message_, insert_device_, select_device_, select_known_,
      insert_metric_, select_metric_, upsert_checkpoint_, insert_reject_;
};

}  // namespace

std::unique_ptr<WriteStore> make_write_store(const ConnectionSpec& spec) {
  return std::make_unique<SociWriteStore>(spec);
}

}  // namespace iotd::storage
