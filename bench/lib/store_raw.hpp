// The store benchmark's raw reference (BENCHMARKS.md): the rows iotd's writer would store for a
// workload, inserted by a plain loop through SOCI (the client library iotd uses), with no
// decoding, dedup or id retrieval. SQLite: one prepared single-row INSERT re-executed, one
// transaction per batch. PostgreSQL/MySQL: one multi-row INSERT … VALUES (…),(…) per
// statement. Use from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "iotd/storage/database.hpp"
#include "lib/store_workload.hpp"

namespace iotd::bench {

// The values of one messages row as the writer fills them.
struct MessageRow {
  std::size_t device = 0;  // index into the workload's devices (pk resolved at insert time)
  std::int64_t ts = 0, received_at = 0;
  std::optional<std::int64_t> dedup_key;
  std::string metrics;  // {"name":number,…}, names sorted, shortest round-trip numbers
  std::string extra;    // empty -> NULL
  std::vector<std::pair<std::string, double>> values;  // for rollups and latest values
};

// Decodes every payload of the workload with iotd's decoder (outside any timing), so the
// raw rows carry exactly the columns the writer would store. Throws if a payload is rejected.
std::vector<MessageRow> message_rows(const Workload& w);

enum class RawTables { messages, all };  // all: + rollup_1m, latest_values, ingest_checkpoint

struct RawOptions {
  std::size_t batch = 2000;      // rows (messages) per transaction
  std::size_t stmt_rows = 2000;  // server dialects: rows per multi-row statement
  RawTables tables = RawTables::messages;
  // Give the messages INSERT the writer's conflict clause (content dedup; PostgreSQL: with
  // RETURNING of the stored keys) to price that part of the writer's statement.
  bool writer_conflict_clause = false;
  // PostgreSQL only: the messages rows by COPY messages(...) FROM STDIN (libpq PQputCopyData on
  // the connection SOCI holds, text format), one COPY per transaction: the fastest bulk load
  // the server offers, the writer drain's ceiling. Messages table only.
  bool copy = false;
};

struct RawResult {
  std::string method;  // what exactly was run, for the report
  std::size_t messages = 0, rollup_rows = 0, latest_rows = 0, checkpoint_rows = 0;
  std::size_t transactions = 0, statements = 0;
  double elapsed_s = 0;
  std::size_t rows() const { return messages + rollup_rows + latest_rows + checkpoint_rows; }
};

// Expects a fresh schema (fresh_schema()). Creates the devices and metric names first
// (untimed, as the writer's first batch would), then times BEGIN … COMMIT of every batch.
RawResult raw_insert(const storage::ConnectionSpec& spec, const Workload& w,
                     const std::vector<MessageRow>& rows, const RawOptions& opts);

}  // namespace iotd::bench
