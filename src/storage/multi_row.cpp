#include "multi_row.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>
#include <utility>

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

void MultiRowStatement::split_partial_chunks() {
  if (intos_) throw std::logic_error("MultiRowStatement: split chunks cannot return rows");
  split_ = true;
}

// Every piece's statement is bound to the first cells: the rows after a piece move to the
// front before the next one runs (a few thousand cells per commit, nothing next to the SQL).
soci::statement* MultiRowStatement::execute_pieces(std::size_t rows, bool fetch_first) {
  const std::size_t n = cols_.size();
  soci::statement* st = nullptr;
  for (std::size_t left = rows; left > 0;) {
    const std::size_t piece = std::bit_floor(left);
    const auto k = static_cast<std::size_t>(std::countr_zero(piece));
    if (pieces_.size() <= k) pieces_.resize(k + 1);
    if (!pieces_[k]) pieces_[k] = build(piece);
    st = pieces_[k].get();
    st->execute(fetch_first);
    left -= piece;
    if (left == 0) break;
    const std::size_t from = piece * n, to = (piece + left) * n;
    std::copy(ints_.begin() + from, ints_.begin() + to, ints_.begin());
    std::copy(reals_.begin() + from, reals_.begin() + to, reals_.begin());
    std::copy(inds_.begin() + from, inds_.begin() + to, inds_.begin());
    for (std::size_t c = from; c < to; ++c) std::swap(texts_[c - from], texts_[c]);
  }
  return st;
}

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
  } else if (split_) {
    return execute_pieces(rows, fetch_first);
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
