// Private to src/storage: the writer's chunked statements on the server dialects, rows added
// one at a time and sent as one statement (multi_row.hpp: MySQL's multi-row VALUES;
// column_arrays.hpp: PostgreSQL's one array parameter per column). Use from one thread.
#pragma once

#include <soci/soci.h>

#include <cstddef>
#include <functional>
#include <string>

namespace iotd::storage::detail {

enum class ColumnType { integer, real, text };

class BatchStatement {
 public:
  // Exchanges into() elements on a freshly built statement (e.g. for RETURNING).
  using IntoBinder = std::function<void(soci::statement&)>;

  virtual ~BatchStatement() = default;

  virtual std::size_t size() const = 0;
  virtual std::size_t max_rows() const = 0;
  bool empty() const { return size() == 0; }
  bool full() const { return size() == max_rows(); }

  // Starts a row (cells default to NULL); fill it with set(), each column at most once.
  virtual void add_row() = 0;
  virtual void set(std::size_t col, long long v) = 0;
  virtual void set(std::size_t col, double v) = 0;
  virtual void set(std::size_t col, const std::string& v) = 0;

  // Runs the pending rows and forgets them (also when it throws). Returns the executed
  // statement (to fetch the rest of its results), or nullptr when nothing was pending.
  // `fetch_first` as in soci::statement::execute().
  virtual soci::statement* execute(bool fetch_first = true) = 0;
  // Forgets the pending rows.
  virtual void clear() = 0;
};

}  // namespace iotd::storage::detail
