// Private to src/storage: a multi-row statement (MySQL's chunks), head + n row groups
// + tail, e.g. "INSERT INTO t(a, b) VALUES (:p0, :p1),(:p2, :p3) ON CONFLICT …". Every cell
// is a bound parameter (values are never spliced into SQL text). PostgreSQL and MySQL pay
// one server round trip per row for SOCI's vector binding (measured); one statement per
// chunk of rows is ~10x faster. The full-size statement is prepared once and re-executed;
// a shorter last chunk gets its own statement (kept while the next one has the same size).
#pragma once

#include <soci/soci.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "batch_statement.hpp"

namespace iotd::storage::detail {

class MultiRowStatement final : public BatchStatement {
 public:
  using Type = ColumnType;
  // Renders row `row` whose first placeholder is number `first` (placeholders in column
  // order, row-major), including any separator before it. Default: "(:pF, :pF+1, …)" with
  // "," between rows.
  using RowText = std::function<std::string(std::size_t row, std::size_t first)>;

  MultiRowStatement(soci::session& s, std::string head, std::string tail, std::vector<Type> cols,
                    std::size_t max_rows, RowText row_text = {}, IntoBinder intos = {});

  std::size_t size() const override { return rows_; }
  std::size_t max_rows() const override { return max_rows_; }

  void add_row() override;
  void set(std::size_t col, long long v) override;
  void set(std::size_t col, double v) override;
  void set(std::size_t col, const std::string& v) override;
  void set_null(std::size_t col);

  // A shorter chunk runs as pieces of 2^k rows (largest first), each piece's statement
  // prepared once and kept. Not with an IntoBinder (results would span statements).
  void split_partial_chunks();

  soci::statement* execute(bool fetch_first = true) override;
  void clear() override { rows_ = 0; }

  static std::string placeholder(std::size_t n) { return ":p" + std::to_string(n); }

 private:
  std::size_t cell(std::size_t col) const { return (rows_ - 1) * cols_.size() + col; }
  std::unique_ptr<soci::statement> build(std::size_t rows);
  soci::statement* execute_pieces(std::size_t rows, bool fetch_first);

  soci::session& sql_;
  std::string head_, tail_;
  std::vector<Type> cols_;
  std::size_t max_rows_;
  RowText row_text_;
  IntoBinder intos_;
  std::size_t rows_ = 0;
  // Bound by reference: allocated once, never resized.
  std::vector<long long> ints_;
  std::vector<double> reals_;
  std::vector<std::string> texts_;
  std::vector<soci::indicator> inds_;
  std::unique_ptr<soci::statement> full_, partial_;
  std::size_t partial_rows_ = 0;
  bool split_ = false;
  std::vector<std::unique_ptr<soci::statement>> pieces_;  // [k]: 2^k rows, built on first use
};

}  // namespace iotd::storage::detail
