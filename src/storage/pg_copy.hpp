// Private to src/storage: PostgreSQL's chunked statement by COPY (docs/architecture.md §10).
// The pending rows are streamed with `COPY <stage> FROM STDIN` (text format, libpq on the
// connection SOCI opened) into a per-session `TEMP … ON COMMIT DELETE ROWS` staging table,
// then ONE prepared statement moves them from the stage into the real table, e.g.
// "INSERT INTO messages(…) SELECT c0, c1, … FROM iotd_stage_messages ORDER BY ord ON CONFLICT
// DO NOTHING RETURNING …". The statement's conflict clause and RETURNING are the same as the
// array-literal statement's (column_arrays.hpp): only how the rows reach the server changes,
// from one array literal per column, parsed by array_in and unnested, to COPY's row format.
// Values are never spliced into SQL text. Use from one thread (the writer's).
#pragma once

#include <soci/soci.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "batch_statement.hpp"

namespace iotd::storage::detail {

// COPY text-format fields: '\' and the row/field separators escaped, so no content is read
// as syntax. PostgreSQL text cannot hold a NUL byte: throws std::invalid_argument (a
// permanent error, never a silent truncation), as append_array_element does. Doubles in the
// shortest form that reads back to the same value; NaN/±Infinity by name.
void append_copy_field(std::string& out, long long v);
void append_copy_field(std::string& out, double v);
void append_copy_field(std::string& out, std::string_view v);

class CopyStageStatement final : public BatchStatement {
 public:
  using Type = ColumnType;

  // Creates the session's staging table `stage` (columns ord, c0, c1, … typed by `cols`);
  // `sql` reads the rows from it, e.g. "INSERT INTO t(a, b) " + select(stage, 2) + " ON …".
  CopyStageStatement(soci::session& s, std::string stage, std::string sql, std::vector<Type> cols,
                     std::size_t max_rows, IntoBinder intos = {});

  // "SELECT c0, c1, … FROM <stage> WHERE ord >= :first ORDER BY ord": the rows of the chunk
  // being executed, in the order they were added. `ord` counts up over the statement's life,
  // so the rows of an earlier chunk of the same transaction (the stage is emptied only at
  // COMMIT or ROLLBACK) are never read twice, and nothing is deleted between chunks.
  static std::string select(std::string_view stage, std::size_t ncols);

  std::size_t size() const override { return rows_; }
  std::size_t max_rows() const override { return max_rows_; }

  void add_row() override;
  void set(std::size_t col, long long v) override;
  void set(std::size_t col, double v) override;
  void set(std::size_t col, const std::string& v) override;

  // Inside the caller's transaction only (std::logic_error otherwise).
  soci::statement* execute(bool fetch_first = true) override;
  void clear() override;

 private:
  void begin_cell(std::size_t col);
  void close_row();
  void copy_rows();

  soci::session& sql_;
  std::string stage_, text_;
  std::vector<Type> cols_;
  std::size_t max_rows_;
  IntoBinder intos_;
  std::size_t rows_ = 0;
  std::size_t col_ = 0;   // next column of the current row
  long long next_ord_ = 0;
  long long first_ = 0;   // bound to :first: the ord of the chunk's first row
  std::string buf_;            // the pending rows, COPY text format
  std::unique_ptr<soci::statement> st_;
};

}  // namespace iotd::storage::detail
