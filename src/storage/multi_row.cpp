#include "multi_row.hpp"

#include <stdexcept>

namespace iotd::storage::detail {

MultiRowStatement::MultiRowStatement(soci::session& s, std::string head, std::string tail,
                                     std::vector<Type> cols, std::size_t max_rows,
                                     RowText row_text, IntoBinder intos)
    : sql_(s), head_(std::move(head)), tail_(std::move(tail)), cols_(std::move(cols)),
      max_rows_(max_rows), row_text_(std::move(row_text)), intos_(std::move(intos)) {
  if (cols_.empty() || max_rows_ == 0) throw std::logic_error("MultiRowStatement: empty shape");
  const std::size_t cells = cols_.size() * max_rows_;
  ints_.resize(cells);
  reals_.resize(cells);
  texts_.resize(cells);
  inds_.resize(cells, soci::i_null);
  if (!row_text_) {
    const std::size_t n = cols_.size();
    row_text_ = [n](std::size_t row, std::size_t first) {
      std::string out = row == 0 ? "(" : ",(";
      for (std::size_t c = 0; c < n; ++c) {
        if (c) out += ", ";
        out += placeholder(first + c);
      }
      out += ')';
      return out;
    };
  }
}

void MultiRowStatement::add_row() {
  if (rows_ == max_rows_) throw std::logic_error("MultiRowStatement: chunk is full");
  ++rows_;
  for (std::size_t c = 0; c < cols_.size(); ++c) inds_[cell(c)] = soci::i_null;
}

void MultiRowStatement::set(std::size_t col, long long v) {
  ints_[cell(col)] = v;
  inds_[cell(col)] = soci::i_ok;
}

void MultiRowStatement::set(std::size_t col, double v) {
  reals_[cell(col)] = v;
  inds_[cell(col)] = soci::i_ok;
}

void MultiRowStatement::set(std::size_t col, const std::string& v) {
  texts_[cell(col)].assign(v);
  inds_[cell(col)] = soci::i_ok;
}

void MultiRowStatement::set_null(std::size_t col) { inds_[cell(col)] = soci::i_null; }

std::unique_ptr<soci::statement> MultiRowStatement::build(std::size_t rows) {
  std::string text = head_;
  for (std::size_t r = 0; r < rows; ++r) text += row_text_(r, r * cols_.size());
  text += tail_;
  auto st = std::make_unique<soci::statement>(sql_);
  for (std::size_t k = 0; k < rows * cols_.size(); ++k) {
    switch (cols_[k % cols_.size()]) {
      case Type::integer: st->exchange(soci::use(ints_[k], inds_[k])); break;
      case Type::real: st->exchange(soci::use(reals_[k], inds_[k])); break;
      case Type::text: st->exchange(soci::use(texts_[k], inds_[k])); break;
    }
  }
  if (intos_) intos_(*st);
  st->alloc();
  st->prepare(text);
  st->define_and_bind();
  return st;
}

soci::statement* MultiRowStatement::execute(bool fetch_first) {
  const std::size_t rows = rows_;
  if (rows == 0) return nullptr;
  rows_ = 0;
  soci::statement* st = nullptr;
  if (rows == max_rows_) {
    if (!full_) full_ = build(rows);
    st = full_.get();
  } else {
    if (!partial_ || partial_rows_ != rows) {
      partial_.reset();
      partial_ = build(rows);
      partial_rows_ = rows;
    }
    st = partial_.get();
  }
  st->execute(fetch_first);
  return st;
}

}  // namespace iotd::storage::detail
