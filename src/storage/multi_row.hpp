// Private to src/storage: a multi-row statement for the server dialects, head + n row groups
// + tail, e.g. "INSERT INTO t(a, b) VALUES (:p0, :p1),(:p2, :p3) ON CONFLICT …". Every cell
// is a bound parameter (values are never spliced into SQL text). PostgreSQL and MySQL pay
// one server round trip per row for SOCI's vector binding (PLATFORM §3); one statement per
// chunk of rows is ~10x faster. The full-size statement is prepared once and re-executed;
// a shorter last chunk gets its own statement (kept while the next one has the same size).
#pragma once

#include <soci/soci.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace iotd::storage::detail {

class MultiRowStatement {
 public:
  enum class Type { integer, real, text };
  // Renders row `row` whose first placeholder is number `first` (placeholders in column
  // order, row-major), including any separator before it. Default: "(:pF, :pF+1, …)" with
  // "," between rows.
  using RowText = std::function<std::string(std::size_t row, std::size_t first)>;
  // Exchanges into() elements on a freshly built statement (e.g. for RETURNING).
  using IntoBinder = std::function<void(soci::statement&)>;

  MultiRowStatement(soci::session& s, std::string head, std::string tail, std::vector<Type> cols,
                    std::size_t max_rows, RowText row_text = {}, IntoBinder intos = {});

  std::size_t size() const { return rows_; }
  bool empty() const { return rows_ == 0; }
  bool full() const { return rows_ == max_rows_; }
  std::size_t max_rows() const { return max_rows_; }

  // Starts a row (cells default to NULL); fill it with set().
  void add_row();
  void set(std::size_t col, long long v);
  void set(std::size_t col, double v);
  void set(std::size_t col, const std::string& v);
  void set_null(std::size_t col);

  // Runs the pending rows and forgets them. Returns the executed statement (to fetch the
  // rest of its results), or nullptr when nothing was pending. `fetch_first` as in
  // soci::statement::execute(). The caller discards pending rows with clear() on failure.
  soci::statement* execute(bool fetch_first = true);
  void clear() { rows_ = 0; }

  static std::string placeholder(std::size_t n) { return ":p" + std::to_string(n); }

 private:
  std::size_t cell(std::size_t col) const { return (rows_ - 1) * cols_.size() + col; }
  std::unique_ptr<soci::statement> build(std::size_t rows);

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
};

}  // namespace iotd::storage::detail
