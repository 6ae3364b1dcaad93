#include "retention_sql.hpp"

#include <soci/soci.h>

#include <string>
#include <string_view>

#include "sql_common.hpp"

namespace iotd::storage::detail {
namespace {

// Each table is walked along an index that exists since 0001 (no migration needed):
// messages_ts, rollup_1m_bucket, rejects_received, and for alerts alerts_raised: an alert
// is cleared after it is raised, so every alert cleared before the cutoff was raised before
// it, and the filter below keeps active alerts (and ones cleared later) out.
struct TableSql {
  std::string_view select_bound;  // the time value at OFFSET :n among expired rows
  std::string_view delete_before; // rows with a time value < :upper
  std::string_view delete_at;     // rows with the time value = :upper (a crowded value)
  bool cutoff_in_filter = false;  // alerts: the filter binds the cutoff once more
};

const TableSql& sql_for(RetentionTable t) {
  static const TableSql messages{
      "SELECT ts FROM messages WHERE ts < :cutoff ORDER BY ts LIMIT 1 OFFSET :n",
      "DELETE FROM messages WHERE ts < :upper",
      "DELETE FROM messages WHERE ts = :upper"};
  static const TableSql rollups{
      "SELECT bucket FROM rollup_1m WHERE bucket < :cutoff ORDER BY bucket LIMIT 1 OFFSET :n",
      "DELETE FROM rollup_1m WHERE bucket < :upper",
      "DELETE FROM rollup_1m WHERE bucket = :upper"};
  static const TableSql alerts{
      "SELECT raised_ts FROM alerts WHERE raised_ts < :cutoff AND state = 'cleared' AND cleared_ts < :cutoff2 "
      "ORDER BY raised_ts LIMIT 1 OFFSET :n",
      "DELETE FROM alerts WHERE raised_ts < :upper AND state = 'cleared' AND cleared_ts < :cutoff",
      "DELETE FROM alerts WHERE raised_ts = :upper AND state = 'cleared' AND cleared_ts < :cutoff", true};
  static const TableSql rejects{
      "SELECT received_at FROM rejects WHERE received_at < :cutoff ORDER BY received_at LIMIT 1 OFFSET :n",
      "DELETE FROM rejects WHERE received_at < :upper",
      "DELETE FROM rejects WHERE received_at = :upper"};
  switch (t) {
    case RetentionTable::messages: return messages;
    case RetentionTable::rollup_1m: return rollups;
    case RetentionTable::alerts: return alerts;
    case RetentionTable::rejects: return rejects;
  }
  return messages;
}

long long run_delete(soci::session& s, std::string_view text, long long upper, long long cutoff,
                     bool cutoff_in_filter) {
  soci::statement st(s);
  st.exchange(soci::use(upper));
  if (cutoff_in_filter) st.exchange(soci::use(cutoff));
  st.alloc();
  st.prepare(std::string(text));
  st.define_and_bind();
  st.execute(true);
  return st.get_affected_rows();
}

}  // namespace

PurgeStep delete_expired(soci::session& s, const SqlDialect& d, RetentionTable table,
                         std::int64_t cutoff_ms, std::size_t max_rows) {
  const TableSql& q = sql_for(table);
  long long cutoff = cutoff_ms;
  long long cutoff2 = cutoff_ms;
  long long n = static_cast<long long>(max_rows == 0 ? 1 : max_rows);
  PurgeStep out;
  s << d.begin_write;
  try {
    long long bound = 0;
    soci::indicator ind = soci::i_null;
    {
      soci::statement st(s);
      st.exchange(soci::into(bound, ind));
      st.exchange(soci::use(cutoff));
      if (q.cutoff_in_filter) st.exchange(soci::use(cutoff2));
      st.exchange(soci::use(n));
      st.alloc();
      st.prepare(std::string(q.select_bound));
      st.define_and_bind();
      if (!st.execute(true)) ind = soci::i_null;  // no row at that position
    }
    if (ind == soci::i_ok) {
      // At least max_rows + 1 expired rows: delete those before the bound (at most max_rows);
      // when they all share the bound's value, that value's rows go instead.
      out.deleted = run_delete(s, q.delete_before, bound, cutoff, q.cutoff_in_filter);
      if (out.deleted == 0) out.deleted = run_delete(s, q.delete_at, bound, cutoff, q.cutoff_in_filter);
      out.more = true;
    } else {
      out.deleted = run_delete(s, q.delete_before, cutoff, cutoff, q.cutoff_in_filter);
      out.more = false;
    }
    s << d.commit;
  } catch (...) {
    try {
      s << d.rollback;
    } catch (...) {
    }
    throw;
  }
  return out;
}

}  // namespace iotd::storage::detail
