#include "column_arrays.hpp"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace iotd::storage::detail {

void append_array_element(std::string& out, long long v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

void append_array_element(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "Infinity" : "-Infinity";
  } else {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
    if (ec != std::errc{}) throw std::logic_error("append_array_element: double did not fit");
    out.append(buf, end);
  }
}

void append_array_element(std::string& out, std::string_view v) {
  out.push_back('"');
  std::size_t from = 0;
  for (;;) {
    const std::size_t at = v.find_first_of(std::string_view("\"\\\0", 3), from);
    if (at == std::string_view::npos) break;
    if (v[at] == '\0')
      throw std::invalid_argument("a text value holds a NUL byte, which PostgreSQL cannot store");
    out.append(v.data() + from, at - from);
    out.push_back('\\');
    out.push_back(v[at]);
    from = at + 1;
  }
  out.append(v.data() + from, v.size() - from);
  out.push_back('"');
}

ColumnArrayStatement::ColumnArrayStatement(soci::session& s, std::string sql,
                                           std::vector<Type> cols, std::size_t max_rows,
                                           IntoBinder intos)
    : sql_(s), text_(std::move(sql)), cols_(std::move(cols)), max_rows_(max_rows),
      intos_(std::move(intos)), arrays_(cols_.size()), set_(cols_.size(), 0) {
  if (cols_.empty() || max_rows_ == 0) throw std::logic_error("ColumnArrayStatement: empty shape");
  clear();
}

std::string ColumnArrayStatement::unnest(const std::vector<Type>& cols) {
  std::string out = "unnest(";
  for (std::size_t c = 0; c < cols.size(); ++c) {
    if (c) out += ", ";
    out += "CAST(:c" + std::to_string(c) + " AS ";
    switch (cols[c]) {
      case Type::integer: out += "BIGINT[])"; break;
      case Type::real: out += "DOUBLE PRECISION[])"; break;
      case Type::text: out += "TEXT[])"; break;
    }
  }
  out += ')';
  return out;
}

void ColumnArrayStatement::add_row() {
  if (rows_ == max_rows_) throw std::logic_error("ColumnArrayStatement: chunk is full");
  if (rows_) close_row();
  ++rows_;
}

// Cells are written in call order, so a row's cells are appended when set() is called and
// the columns left unset become NULL when the row is closed.
void ColumnArrayStatement::begin_cell(std::size_t col) {
  if (rows_ == 0 || set_[col]) throw std::logic_error("ColumnArrayStatement: misplaced set()");
  set_[col] = 1;
  if (rows_ > 1) arrays_[col].push_back(',');
}

void ColumnArrayStatement::close_row() {
  for (std::size_t c = 0; c < cols_.size(); ++c) {
    if (!set_[c]) {
      if (rows_ > 1) arrays_[c].push_back(',');
      arrays_[c] += "NULL";
    }
    set_[c] = 0;
  }
}

void ColumnArrayStatement::set(std::size_t col, long long v) {
  begin_cell(col);
  append_array_element(arrays_[col], v);
}

void ColumnArrayStatement::set(std::size_t col, double v) {
  begin_cell(col);
  append_array_element(arrays_[col], v);
}

void ColumnArrayStatement::set(std::size_t col, const std::string& v) {
  begin_cell(col);
  try {
    append_array_element(arrays_[col], v);
  } catch (...) {
    clear();  // a half-written element would corrupt the literal
    throw;
  }
}

void ColumnArrayStatement::clear() {
  rows_ = 0;
  for (std::size_t c = 0; c < cols_.size(); ++c) {
    arrays_[c].assign(1, '{');  // keeps the capacity: the next chunk needs as much
    set_[c] = 0;
  }
}

soci::statement* ColumnArrayStatement::execute(bool fetch_first) {
  if (rows_ == 0) return nullptr;
  close_row();
  for (auto& a : arrays_) a.push_back('}');
  try {
    if (!st_) {
      auto st = std::make_unique<soci::statement>(sql_);
      for (auto& a : arrays_) st->exchange(soci::use(a));
      if (intos_) intos_(*st);
      st->alloc();
      st->prepare(text_);
      st->define_and_bind();
      st_ = std::move(st);
    }
    st_->execute(fetch_first);
  } catch (...) {
    clear();
    throw;
  }
  clear();
  return st_.get();
}

}  // namespace iotd::storage::detail
