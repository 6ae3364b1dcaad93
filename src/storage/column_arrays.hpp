// Private to src/storage: PostgreSQL's chunked statement. Each column of the pending rows
// travels as ONE text parameter holding an array literal ("{1,NULL,3}", "{\"a\",\"b\\\"c\"}"),
// which the statement unnests, e.g. "INSERT INTO t(a, b) SELECT * FROM unnest(CAST(:c0 AS
// BIGINT[]), CAST(:c1 AS TEXT[])) ON CONFLICT …". Against a multi-row VALUES statement this
// turns rows x columns parameters (each converted by SOCI and planned by the server as its
// own expression) into one per column, and the statement text no longer depends on the
// number of rows: it is prepared once. Values are never spliced into SQL text.
// Use from one thread (the writer's).
#pragma once

#include <soci/soci.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "batch_statement.hpp"

namespace iotd::storage::detail {

// Array literal elements, as PostgreSQL's array input reads them back exactly. Text is always
// double-quoted, with '"' and '\' backslash-escaped, so that no content (NULL, "", braces,
// commas, blanks, quotes, any UTF-8) is ever read as syntax. PostgreSQL text cannot hold a
// NUL byte: throws std::invalid_argument (a permanent error, never a silent truncation).
// Doubles in the shortest form that reads back to the same value; NaN/±Infinity by name.
void append_array_element(std::string& out, long long v);
void append_array_element(std::string& out, double v);
void append_array_element(std::string& out, std::string_view v);

class ColumnArrayStatement final : public BatchStatement {
 public:
  using Type = ColumnType;

  // `sql` names the column arrays :c0, :c1, … (see unnest()); `max_rows` bounds a chunk.
  ColumnArrayStatement(soci::session& s, std::string sql, std::vector<Type> cols,
                       std::size_t max_rows, IntoBinder intos = {});

  // "unnest(CAST(:c0 AS BIGINT[]), CAST(:c1 AS TEXT[]), …)" for `cols`.
  static std::string unnest(const std::vector<Type>& cols);

  std::size_t size() const override { return rows_; }
  std::size_t max_rows() const override { return max_rows_; }

  void add_row() override;
  void set(std::size_t col, long long v) override;
  void set(std::size_t col, double v) override;
  void set(std::size_t col, const std::string& v) override;

  soci::statement* execute(bool fetch_first = true) override;
  void clear() override;

 private:
  void begin_cell(std::size_t col);
  void close_row();

  soci::session& sql_;
  std::string text_;
  std::vector<Type> cols_;
  std::size_t max_rows_;
  IntoBinder intos_;
  std::size_t rows_ = 0;
  // One array literal per column, bound by reference: never resized after the statement
  // is built.
  std::vector<std::string> arrays_;
  std::vector<char> set_;  // per column: set in the current row
  std::unique_ptr<soci::statement> st_;
};

}  // namespace iotd::storage::detail
