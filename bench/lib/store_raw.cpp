#include "lib/store_raw.hpp"

#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/soci.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <stdexcept>
#include <tuple>

#include "iotd/pipeline/decoder.hpp"
#include "lib/store_db.hpp"

namespace iotd::bench {
namespace {

constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::size_t kMaxParams = 65535;  // PostgreSQL's limit per statement

void append_metrics_json(std::string& out, const std::vector<std::pair<std::string, double>>& ms) {
  out.clear();
  out.push_back('{');
  for (const auto& [name, value] : ms) {
    if (out.size() > 1) out.push_back(',');
    out.push_back('"');
    out += name;  // the workload's names need no escaping
    out += "\":";
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    out.append(buf, end);
  }
  out.push_back('}');
}

enum class Col { integer, real, text };

// INSERT head + up to max_rows "(…)" groups + tail, every cell a bound parameter. The cells
// are allocated once and bound by reference; one prepared statement per row count in use
// (the full size and at most a shorter last chunk).
class RowsStatement {
 public:
  RowsStatement(soci::session& s, std::string head, std::string tail, std::vector<Col> cols,
                std::size_t max_rows)
      : sql_(s), head_(std::move(head)), tail_(std::move(tail)), cols_(std::move(cols)),
        max_rows_(std::max<std::size_t>(1, std::min(max_rows, kMaxParams / cols_.size()))),
        cells_(max_rows_ * cols_.size()) {}

  void add_row() {
    if (rows_ == max_rows_) flush();
    ++rows_;
  }
  RowsStatement(const RowsStatement&) = delete;
  RowsStatement& operator=(const RowsStatement&) = delete;

  void set(std::size_t col, long long v) {
    Cell& c = cell(col);
    c.i = v;
    c.ind = soci::i_ok;
  }
  void set(std::size_t col, double v) {
    Cell& c = cell(col);
    c.d = v;
    c.ind = soci::i_ok;
  }
  void set(std::size_t col, const std::string& v) {
    Cell& c = cell(col);
    c.s.assign(v);
    c.ind = soci::i_ok;
  }
  void set_null(std::size_t col) { cell(col).ind = soci::i_null; }

  // Runs the pending rows, if any.
  void flush() {
    if (rows_ == 0) return;
    auto& st = prepared_[rows_];
    if (!st) st = build(rows_);
    rows_ = 0;
    st->execute(true);
    ++executions_;
  }
  std::size_t max_rows() const { return max_rows_; }
  std::size_t executions() const { return executions_; }

 private:
  struct Cell {
    long long i = 0;
    double d = 0;
    std::string s;
    soci::indicator ind = soci::i_null;
  };
  Cell& cell(std::size_t col) { return cells_[(rows_ - 1) * cols_.size() + col]; }

  std::unique_ptr<soci::statement> build(std::size_t rows) {
    std::string text = head_;
    auto st = std::make_unique<soci::statement>(sql_);
    for (std::size_t r = 0; r < rows; ++r) {
      text += r ? ",(" : "(";
      for (std::size_t c = 0; c < cols_.size(); ++c) {
        Cell& cell = cells_[r * cols_.size() + c];
        text += c ? ", :r" : ":r";
        text += std::to_string(r) + "c" + std::to_string(c);
        switch (cols_[c]) {
          case Col::integer: st->exchange(soci::use(cell.i, cell.ind)); break;
          case Col::real: st->exchange(soci::use(cell.d, cell.ind)); break;
          case Col::text: st->exchange(soci::use(cell.s, cell.ind)); break;
        }
      }
      text += ')';
    }
    text += tail_;
    st->alloc();
    st->prepare(text);
    st->define_and_bind();
    return st;
  }

  soci::session& sql_;
  std::string head_, tail_;
  std::vector<Col> cols_;
  std::size_t max_rows_;
  std::vector<Cell> cells_;  // never resized: bound by reference
  std::size_t rows_ = 0;
  std::size_t executions_ = 0;
  std::map<std::size_t, std::unique_ptr<soci::statement>> prepared_;
};

struct UpsertSql {
  const char* rollup_tail;
  const char* latest_tail;
  const char* checkpoint_tail;
};

UpsertSql upsert_sql(const std::string& dialect) {
  if (dialect == "mysql")
    return {" ON DUPLICATE KEY UPDATE n = n + VALUES(n), sum = sum + VALUES(sum), "
            "min = LEAST(min, VALUES(min)), max = GREATEST(max, VALUES(max))",
            " ON DUPLICATE KEY UPDATE value = IF(VALUES(ts) >= ts, VALUES(value), value), "
            "ts = GREATEST(ts, VALUES(ts))",
            " ON DUPLICATE KEY UPDATE journal_uuid = VALUES(journal_uuid), seq = VALUES(seq), "
            "updated_at = VALUES(updated_at)"};
  const bool pg = dialect == "postgresql";
  return {pg ? " ON CONFLICT (device_pk, bucket, metric_id) DO UPDATE SET "
               "n = rollup_1m.n + excluded.n, sum = rollup_1m.sum + excluded.sum, "
               "min = LEAST(rollup_1m.min, excluded.min), max = GREATEST(rollup_1m.max, excluded.max)"
             : " ON CONFLICT (device_pk, bucket, metric_id) DO UPDATE SET "
               "n = rollup_1m.n + excluded.n, sum = rollup_1m.sum + excluded.sum, "
               "min = MIN(rollup_1m.min, excluded.min), max = MAX(rollup_1m.max, excluded.max)",
          " ON CONFLICT (device_pk, metric_id) DO UPDATE SET ts = excluded.ts, value = excluded.value "
          "WHERE excluded.ts >= latest_values.ts",
          " ON CONFLICT (instance_id) DO UPDATE SET journal_uuid = excluded.journal_uuid, "
          "seq = excluded.seq, updated_at = excluded.updated_at"};
}

const char* messages_conflict_tail(const std::string& dialect) {
  if (dialect == "postgresql") return " ON CONFLICT DO NOTHING RETURNING id, device_pk, ts, dedup_key";
  if (dialect == "mysql") return " ON DUPLICATE KEY UPDATE id = id";
  return " ON CONFLICT DO NOTHING";
}

struct RollupRow {
  long long device_pk, bucket, metric_id, n;
  double sum, min, max;
};
struct LatestRow {
  long long device_pk, metric_id, ts;
  double value;
};
// What the writer upserts at the commit of one batch: rollups folded per (device, minute,
// metric) and the newest value per (device, metric), in key order.
struct BatchUpserts {
  std::vector<RollupRow> rollups;
  std::vector<LatestRow> latest;
};

BatchUpserts fold_batch(const std::vector<MessageRow>& rows, std::size_t begin, std::size_t end,
                        const std::vector<long long>& device_pk,
                        const std::map<std::string, long long>& metric_id) {
  std::map<std::tuple<long long, long long, long long>, RollupRow> rollups;
  std::map<std::pair<long long, long long>, LatestRow> latest;
  for (std::size_t i = begin; i < end; ++i) {
    const MessageRow& m = rows[i];
    const long long pk = device_pk[m.device];
    const long long bucket = m.ts - ((m.ts % kMinuteMs) + kMinuteMs) % kMinuteMs;
    for (const auto& [name, v] : m.values) {
      const long long mid = metric_id.at(name);
      auto [it, fresh] = rollups.try_emplace({pk, bucket, mid}, RollupRow{pk, bucket, mid, 0, 0, v, v});
      RollupRow& r = it->second;
      ++r.n;
      r.sum += v;
      r.min = std::min(r.min, v);
      r.max = std::max(r.max, v);
      auto [lit, lfresh] = latest.try_emplace({pk, mid}, LatestRow{pk, mid, m.ts, v});
      if (!lfresh && m.ts >= lit->second.ts) lit->second = LatestRow{pk, mid, m.ts, v};
    }
  }
  BatchUpserts out;
  for (auto& [_, r] : rollups) out.rollups.push_back(r);
  for (auto& [_, l] : latest) out.latest.push_back(l);
  return out;
}

// COPY's text format: tab-separated, \N for NULL, backslash escapes in text.
void append_copy_text(std::string& out, const std::string& v) {
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: out.push_back(c);
    }
  }
}

void append_copy_int(std::string& out, long long v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// One COPY messages(...) FROM STDIN of rows [begin, end) on the session's libpq connection,
// inside the caller's transaction.
void copy_messages(soci::session& sql, const std::vector<MessageRow>& rows, std::size_t begin,
                   std::size_t end, const std::vector<long long>& device_pk, std::string& buf) {
  // SOCI's PostgreSQL backend keeps the PGconn in its session backend (public member).
  PGconn* conn = static_cast<soci::postgresql_session_backend*>(sql.get_backend())->conn_;
  PGresult* res = PQexec(conn, "COPY messages(device_pk, ts, received_at, dedup_key, metrics, extra) FROM STDIN");
  const bool started = PQresultStatus(res) == PGRES_COPY_IN;
  PQclear(res);
  if (!started) throw std::runtime_error(std::string("COPY did not start: ") + PQerrorMessage(conn));
  buf.clear();
  auto send = [&] {
    if (PQputCopyData(conn, buf.data(), static_cast<int>(buf.size())) != 1)
      throw std::runtime_error(std::string("PQputCopyData: ") + PQerrorMessage(conn));
    buf.clear();
  };
  for (std::size_t i = begin; i < end; ++i) {
    const MessageRow& m = rows[i];
    append_copy_int(buf, device_pk[m.device]);
    buf.push_back('\t');
    append_copy_int(buf, m.ts);
    buf.push_back('\t');
    append_copy_int(buf, m.received_at);
    buf.push_back('\t');
    if (m.dedup_key)
      append_copy_int(buf, *m.dedup_key);
    else
      buf += "\\N";
    buf.push_back('\t');
    append_copy_text(buf, m.metrics);
    buf.push_back('\t');
    if (m.extra.empty())
      buf += "\\N";
    else
      append_copy_text(buf, m.extra);
    buf.push_back('\n');
    if (buf.size() > (1u << 16)) send();
  }
  if (!buf.empty()) send();
  if (PQputCopyEnd(conn, nullptr) != 1)
    throw std::runtime_error(std::string("PQputCopyEnd: ") + PQerrorMessage(conn));
  bool ok = true;
  std::string error;
  while ((res = PQgetResult(conn)) != nullptr) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
      ok = false;
      error = PQresultErrorMessage(res);
    }
    PQclear(res);
  }
  if (!ok) throw std::runtime_error("COPY failed: " + error);
}

}  // namespace

std::vector<MessageRow> message_rows(const Workload& w) {
  std::vector<MessageRow> out;
  out.reserve(w.messages);
  const pipeline::DecoderOptions opts;
  for (std::size_t i = 0; i < w.messages; ++i) {
    const std::string payload = w.payload(i);
    const std::string device = w.device_id(w.device_of(i));
    auto decoded = pipeline::decode({payload, device, w.received_at_ms(i)}, opts);
    if (!decoded || decoded->readings.size() != 1)
      throw std::logic_error("the decoder rejected the benchmark payload " + payload +
                             (decoded ? std::string(" (not one reading)") : ": " + decoded.error().detail));
    Reading& r = decoded->readings.front();
    MessageRow m;
    m.device = w.device_of(i);
    m.ts = r.ts_ms;
    m.received_at = r.received_at_ms;
    m.dedup_key = r.dedup_key;
    append_metrics_json(m.metrics, r.metrics);
    m.extra = std::move(r.extra_json);
    m.values = std::move(r.metrics);
    out.push_back(std::move(m));
  }
  return out;
}

RawResult raw_insert(const storage::ConnectionSpec& spec, const Workload& w,
                     const std::vector<MessageRow>& rows, const RawOptions& opts) {
  if (opts.batch == 0 || opts.stmt_rows == 0)
    throw std::invalid_argument("batch and statement sizes must be at least 1");
  if (opts.copy && (spec.dialect != "postgresql" || opts.tables != RawTables::messages))
    throw std::invalid_argument("COPY is PostgreSQL's, for the messages table only");
  auto session = open_plain_session(spec);
  soci::session& sql = *session;
  const bool server = spec.dialect != "sqlite";
  const std::int64_t now = w.received_at_ms(w.messages ? w.messages - 1 : 0);

  // Devices and metric names exist before the timed loop (the writer creates them in its
  // first batch: D + M rows, nothing next to the messages).
  std::vector<long long> device_pk(w.devices);
  std::map<std::string, long long> metric_id;
  {
    soci::transaction tr(sql);
    std::string id;
    long long at = now;
    soci::statement ins = (sql.prepare << "INSERT INTO devices(device_id, status, created_at, updated_at) "
                                          "VALUES(:id, 'active', :c, :u)",
                           soci::use(id), soci::use(at), soci::use(at));
    long long pk = 0;
    soci::statement sel = (sql.prepare << "SELECT pk FROM devices WHERE device_id = :id",
                           soci::into(pk), soci::use(id));
    for (std::size_t d = 0; d < w.devices; ++d) {
      id = w.device_id(d);
      ins.execute(true);
      sel.execute(true);
      device_pk[d] = pk;
    }
    std::string name;
    long long mid = 0;
    soci::statement mins = (sql.prepare << "INSERT INTO metric_names(name) VALUES(:n)", soci::use(name));
    soci::statement msel = (sql.prepare << "SELECT id FROM metric_names WHERE name = :n",
                            soci::into(mid), soci::use(name));
    std::vector<std::string> names;
    for (std::size_t k = 0; k < w.metrics; ++k) names.push_back(w.metric_name(k));
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      name = n;
      mins.execute(true);
      msel.execute(true);
      metric_id[n] = mid;
    }
    tr.commit();
  }

  // The upserts per batch are folded before the clock starts: this is the database's share.
  std::vector<BatchUpserts> upserts;
  if (opts.tables == RawTables::all)
    for (std::size_t b = 0; b < rows.size(); b += opts.batch)
      upserts.push_back(fold_batch(rows, b, std::min(rows.size(), b + opts.batch), device_pk, metric_id));

  const std::size_t per_stmt = server ? opts.stmt_rows : 1;
  RowsStatement messages(sql,
                         "INSERT INTO messages(device_pk, ts, received_at, dedup_key, metrics, extra) VALUES ",
                         opts.writer_conflict_clause ? messages_conflict_tail(spec.dialect) : "", {Col::integer, Col::integer, Col::integer, Col::integer, Col::text, Col::text},
                         per_stmt);
  const UpsertSql up = upsert_sql(spec.dialect);
  std::optional<RowsStatement> rollup, latest, checkpoint;
  if (opts.tables == RawTables::all) {
    rollup.emplace(sql, "INSERT INTO rollup_1m(device_pk, bucket, metric_id, n, sum, min, max) VALUES ",
                   up.rollup_tail,
                   std::vector{Col::integer, Col::integer, Col::integer, Col::integer, Col::real, Col::real,
                               Col::real},
                   per_stmt);
    latest.emplace(sql, "INSERT INTO latest_values(device_pk, metric_id, ts, value) VALUES ", up.latest_tail,
                   std::vector{Col::integer, Col::integer, Col::integer, Col::real}, per_stmt);
    checkpoint.emplace(sql, "INSERT INTO ingest_checkpoint(instance_id, journal_uuid, seq, updated_at) VALUES ",
                       up.checkpoint_tail, std::vector{Col::text, Col::text, Col::integer, Col::integer}, 1);
  }
  const std::string instance = "bench", journal_uuid = "00000000-0000-4000-8000-000000000000";

  RawResult res;
  std::string copy_buf;
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t b = 0; b < rows.size(); b += opts.batch) {
    const std::size_t end = std::min(rows.size(), b + opts.batch);
    soci::transaction tr(sql);
    if (opts.copy) {
      copy_messages(sql, rows, b, end, device_pk, copy_buf);
      tr.commit();
      res.messages += end - b;
      ++res.transactions;
      ++res.statements;
      continue;
    }
    for (std::size_t i = b; i < end; ++i) {
      const MessageRow& m = rows[i];
      messages.add_row();
      messages.set(0, device_pk[m.device]);
      messages.set(1, static_cast<long long>(m.ts));
      messages.set(2, static_cast<long long>(m.received_at));
      if (m.dedup_key)
        messages.set(3, static_cast<long long>(*m.dedup_key));
      else
        messages.set_null(3);
      messages.set(4, m.metrics);
      if (m.extra.empty())
        messages.set_null(5);
      else
        messages.set(5, m.extra);
      if (!server) messages.flush();
    }
    messages.flush();
    res.messages += end - b;
    if (opts.tables == RawTables::all) {
      const BatchUpserts& u = upserts[b / opts.batch];
      for (const RollupRow& r : u.rollups) {
        rollup->add_row();
        rollup->set(0, r.device_pk);
        rollup->set(1, r.bucket);
        rollup->set(2, r.metric_id);
        rollup->set(3, r.n);
        rollup->set(4, r.sum);
        rollup->set(5, r.min);
        rollup->set(6, r.max);
      }
      rollup->flush();
      for (const LatestRow& l : u.latest) {
        latest->add_row();
        latest->set(0, l.device_pk);
        latest->set(1, l.metric_id);
        latest->set(2, l.ts);
        latest->set(3, l.value);
      }
      latest->flush();
      checkpoint->add_row();
      checkpoint->set(0, instance);
      checkpoint->set(1, journal_uuid);
      checkpoint->set(2, static_cast<long long>(end));
      checkpoint->set(3, static_cast<long long>(now));
      checkpoint->flush();
      res.rollup_rows += u.rollups.size();
      res.latest_rows += u.latest.size();
      res.checkpoint_rows += 1;
    }
    tr.commit();
    ++res.transactions;
  }
  res.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.statements += messages.executions() + (rollup ? rollup->executions() : 0) +
                   (latest ? latest->executions() : 0) + (checkpoint ? checkpoint->executions() : 0);

  std::string tx = std::to_string(opts.batch) + " messages per transaction";
  if (opts.writer_conflict_clause) tx += std::string(", messages INSERT ending in") + messages_conflict_tail(spec.dialect);
  if (opts.copy)
    res.method = "libpq COPY messages FROM STDIN (text format) on SOCI's connection, one COPY per transaction, " + tx;
  else if (server)
    res.method = "SOCI " + spec.backend + ", multi-row INSERT ... VALUES, " +
                 std::to_string(messages.max_rows()) + " rows per statement, " + tx +
                 (opts.tables == RawTables::all ? ", rollup/latest/checkpoint as multi-row upserts" : "");
  else
    res.method = "SOCI sqlite3, prepared single-row INSERT re-executed, " + tx +
                 (opts.tables == RawTables::all ? ", rollup/latest/checkpoint as single-row upserts" : "");
  return res;
}

}  // namespace iotd::bench
