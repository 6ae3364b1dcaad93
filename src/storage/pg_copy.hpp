// Private to src/storage: PostgreSQL's chunked statement by COPY (docs/architecture.md §10).
// The pending rows are streamed with `COPY <stage> FROM STDIN` (text format, libpq on the
// connection SOCI opened) into a per-session `TEMP … ON COMMIT DELETE ROWS` staging table,
// then ONE prepared statement moves them from the stage into the real table, e.g.
// "INSERT INTO messages(…) SELECT c0, c1, … FROM iotd_stage_messages ORDER BY ord ON CONFLICT
// DO NOTHING RETURNING …". The statement's conflict clause and RETURNING are the same as the
// array-literal statement's (column_arrays.hpp): only how the rows reach the server changes,
// from one array literal per column, parsed by array_in and unnested, to COPY's row format.
// Values are never spliced into SQL text. Use from one thread (the writer's).
//
// With a DirectCopy target (the writer's messages) a chunk is first COPYed straight into the
// real table under a savepoint: no stage, no ON CONFLICT pre-check, no RETURNING. Its ids
// are drawn from the id column's own sequence as the chunk runs (one nextval per row, one
// round trip) and sent as the rows' ord, which is the id in both ways of storing it. Only
// when that COPY hits a unique violation (a content duplicate: a replayed journal, a
// redelivered or resent message) is the chunk rolled back to the savepoint and stored by the
// staged statement, whose conflict clause skips the duplicates; so are the next
// kDirectBackoff chunks, so a source that keeps repeating itself costs a failed COPY only
// once in that many chunks. Measured (BENCHMARKS.md, issue 14): the messages cost on the
// server what a raw COPY of them costs, against about twice that through the stage.
#pragma once

#include <soci/soci.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "batch_statement.hpp"

typedef struct pg_conn PGconn;  // libpq-fe.h

namespace iotd::storage::detail {

// COPY text-format fields: '\' and the row/field separators escaped, so no content is read
// as syntax. PostgreSQL text cannot hold a NUL byte: throws std::invalid_argument (a
// permanent error, never a silent truncation), as append_array_element does. Doubles in the
// shortest form that reads back to the same value; NaN/±Infinity by name.
void append_copy_field(std::string& out, long long v);
void append_copy_field(std::string& out, double v);
void append_copy_field(std::string& out, std::string_view v);

// The real table a chunk may be COPYed into directly: `columns` are the targets of c0, c1, …
// and `id_column` an identity/serial column whose sequence numbers the rows.
struct DirectCopy {
  std::string table;
  std::string id_column;
  std::vector<std::string> columns;
};

class CopyStageStatement final : public BatchStatement {
 public:
  using Type = ColumnType;
  static constexpr std::size_t kDirectBackoff = 32;

  // Creates the session's staging table `stage` (columns ord, c0, c1, … typed by `cols`);
  // `sql` reads the rows from it, e.g. "INSERT INTO t(a, b) " + select(stage, 2) + " ON …".
  // `direct`: the table to try first (its columns match `cols`; throws std::logic_error if
  // its id column has no sequence); `sql` must then insert the ord as that id.
  CopyStageStatement(soci::session& s, std::string stage, std::string sql, std::vector<Type> cols,
                     std::size_t max_rows, IntoBinder intos = {},
                     std::optional<DirectCopy> direct = std::nullopt);

  // "SELECT c0, c1, … FROM <stage> WHERE ord >= :first ORDER BY ord": the rows of the chunk
  // being executed, in the order they were added. `ord` counts up over the statement's life
  // (with a direct target it is the rows' ids, from the sequence), so the rows of an earlier
  // chunk of the same transaction (the stage is emptied only at COMMIT or ROLLBACK) are
  // never read twice, and nothing is deleted between chunks.
  // With `with_ord`, "SELECT ord, c0, …": a direct target's staged statement inserts the ord
  // as the row's id ("INSERT INTO messages(id, …) " + select(stage, n, true) + …), so the ids
  // of a chunk are the same whichever way it is stored.
  static std::string select(std::string_view stage, std::size_t ncols, bool with_ord = false);

  std::size_t size() const override { return rows_; }
  std::size_t max_rows() const override { return max_rows_; }

  void add_row() override;
  void set(std::size_t col, long long v) override;
  void set(std::size_t col, double v) override;
  void set(std::size_t col, const std::string& v) override;

  // Inside the caller's transaction only (std::logic_error otherwise). With a DirectCopy
  // target, nullptr also when the chunk was stored directly: then stored_directly() holds
  // every row's id, in row order.
  soci::statement* execute(bool fetch_first = true) override;
  void clear() override;

  // The ids of the last execute() that stored its whole chunk by the direct COPY; empty
  // after any other execute().
  std::span<const long long> stored_directly() const { return direct_ids_; }
  // Chunks whose direct COPY met a duplicate and went the staged way instead.
  std::size_t direct_fallbacks() const { return fallbacks_; }

 private:
  void begin_cell(std::size_t col);
  void close_row();
  void number_rows(PGconn* conn);
  bool copy_direct(PGconn* conn);

  soci::session& sql_;
  std::string stage_, text_;
  std::vector<Type> cols_;
  std::size_t max_rows_;
  IntoBinder intos_;
  std::optional<DirectCopy> direct_;
  std::string stage_copy_, direct_copy_;      // the COPY commands
  std::string id_sequence_;                  // the direct ids' sequence, as the server names it
  std::vector<std::size_t> row_starts_;  // where each pending row begins in buf_
  std::vector<long long> ords_, direct_ids_;  // the executing chunk's ords; the last direct ids
  std::string copy_text_;                     // the executing chunk as COPY sends it
  std::size_t backoff_ = 0;  // chunks left to stage before trying the direct COPY again
  std::size_t fallbacks_ = 0;

  std::size_t rows_ = 0;
  std::size_t col_ = 0;   // next column of the current row
  long long next_ord_ = 0;
  long long first_ = 0;   // bound to :first: the ord of the chunk's first row
  std::string buf_;            // the pending rows, COPY text format without their ords
  std::unique_ptr<soci::statement> st_;
};

}  // namespace iotd::storage::detail
