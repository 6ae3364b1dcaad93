#include "pg_copy.hpp"

#include <soci/postgresql/soci-postgresql.h>

#include <algorithm>
#include <stdexcept>

#include "column_arrays.hpp"
#include "libpq.hpp"

namespace iotd::storage::detail {

void append_copy_field(std::string& out, long long v) { append_array_element(out, v); }

void append_copy_field(std::string& out, double v) {
  append_array_element(out, v);  // same spelling: shortest round trip, NaN, ±Infinity
}

void append_copy_field(std::string& out, std::string_view v) {
  std::size_t from = 0;
  for (;;) {
    const std::size_t at = v.find_first_of(std::string_view("\\\t\n\r\0", 5), from);
    if (at == std::string_view::npos) break;
    out.append(v.data() + from, at - from);
    switch (v[at]) {
      case '\\': out += "\\\\"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      default: throw std::invalid_argument("a text value holds a NUL byte, which PostgreSQL cannot store");
    }
    from = at + 1;
  }
  out.append(v.data() + from, v.size() - from);
}

namespace {

const LibPq& pq() { return libpq(); }

PGconn* pg_conn(soci::session& s) {
  // SOCI's PostgreSQL backend keeps its PGconn in the (public) session backend; the caller
  // only builds this statement on a PostgreSQL session.
  return static_cast<soci::postgresql_session_backend*>(s.get_backend())->conn_;
}

// The server's primary message and SQLSTATE, not the DETAIL/CONTEXT lines: those can quote
// stored values, which must never decide whether an error is transient (dialect.cpp).
[[noreturn]] void throw_result(PGconn* conn, PGresult* res, const char* what) {
  std::string msg = std::string(what) + ": ";
  const char* primary = res ? pq().PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const char* state = res ? pq().PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  if (primary) {
    msg += primary;
    if (state) msg += std::string(" (SQLSTATE ") + state + ")";
  } else {
    msg += pq().PQerrorMessage(conn);  // libpq's own: "server closed the connection …", etc.
  }
  if (res) pq().PQclear(res);
  throw std::runtime_error(msg);
}

}  // namespace

CopyStageStatement::CopyStageStatement(soci::session& s, std::string stage, std::string sql,
                                       std::vector<Type> cols, std::size_t max_rows, IntoBinder intos)
    : sql_(s), stage_(std::move(stage)), text_(std::move(sql)), cols_(std::move(cols)),
      max_rows_(max_rows), intos_(std::move(intos)) {
  if (cols_.empty() || max_rows_ == 0) throw std::logic_error("CopyStageStatement: empty shape");
  std::string ddl = "CREATE TEMP TABLE IF NOT EXISTS " + stage_ + " (ord BIGINT NOT NULL";
  for (std::size_t c = 0; c < cols_.size(); ++c) {
    ddl += ", c" + std::to_string(c);
    switch (cols_[c]) {
      case Type::integer: ddl += " BIGINT"; break;
      case Type::real: ddl += " DOUBLE PRECISION"; break;
      case Type::text: ddl += " TEXT"; break;
    }
  }
  ddl += ") ON COMMIT DELETE ROWS";
  sql_ << ddl;
}

std::string CopyStageStatement::select(std::string_view stage, std::size_t ncols) {
  std::string out = "SELECT ";
  for (std::size_t c = 0; c < ncols; ++c) out += (c ? ", c" : "c") + std::to_string(c);
  out += " FROM ";
  out += stage;
  out += " WHERE ord >= :first ORDER BY ord";
  return out;
}

void CopyStageStatement::add_row() {
  if (rows_ == max_rows_) throw std::logic_error("CopyStageStatement: chunk is full");
  if (rows_) close_row();
  if (rows_ == 0) first_ = next_ord_;
  append_copy_field(buf_, next_ord_++);
  ++rows_;
  col_ = 0;
}

// Fields are written in column order: set() must come in increasing column order, and the
// columns it skips (and those left at the end of a row) become NULL.
void CopyStageStatement::begin_cell(std::size_t col) {
  if (rows_ == 0 || col < col_ || col >= cols_.size())
    throw std::logic_error("CopyStageStatement: misplaced set()");
  for (; col_ < col; ++col_) buf_ += "\t\\N";
  buf_.push_back('\t');
  col_ = col + 1;
}

void CopyStageStatement::close_row() {
  for (; col_ < cols_.size(); ++col_) buf_ += "\t\\N";
  buf_.push_back('\n');
}

void CopyStageStatement::set(std::size_t col, long long v) {
  begin_cell(col);
  append_copy_field(buf_, v);
}

void CopyStageStatement::set(std::size_t col, double v) {
  begin_cell(col);
  append_copy_field(buf_, v);
}

void CopyStageStatement::set(std::size_t col, const std::string& v) {
  begin_cell(col);
  try {
    append_copy_field(buf_, v);
  } catch (...) {
    clear();  // a half-written field would corrupt the rows
    throw;
  }
}

void CopyStageStatement::clear() {
  rows_ = 0;
  col_ = 0;
  buf_.clear();  // keeps the capacity: the next chunk needs as much
}

// The pending rows into the stage: one COPY, inside the caller's transaction.
void CopyStageStatement::copy_rows() {
  PGconn* conn = pg_conn(sql_);
  // Outside a transaction the COPY would commit on its own and ON COMMIT DELETE ROWS would
  // empty the stage before the statement reads it.
  if (pq().PQtransactionStatus(conn) != PQTRANS_INTRANS)
    throw std::logic_error("CopyStageStatement::execute() outside a transaction");
  std::string copy = "COPY " + stage_ + "(ord";
  for (std::size_t c = 0; c < cols_.size(); ++c) copy += ", c" + std::to_string(c);
  copy += ") FROM STDIN";
  PGresult* res = pq().PQexec(conn, copy.c_str());
  if (!res || pq().PQresultStatus(res) != PGRES_COPY_IN) throw_result(conn, res, "COPY to the stage");
  pq().PQclear(res);
  constexpr std::size_t kPiece = std::size_t{1} << 20;
  bool sent = true;
  for (std::size_t at = 0; sent && at < buf_.size(); at += kPiece)
    sent = pq().PQputCopyData(conn, buf_.data() + at, static_cast<int>(std::min(kPiece, buf_.size() - at))) == 1;
  if (!sent || pq().PQputCopyEnd(conn, nullptr) != 1) throw_result(conn, nullptr, "COPY to the stage");
  PGresult* bad = nullptr;
  while ((res = pq().PQgetResult(conn)) != nullptr) {
    if (pq().PQresultStatus(res) != PGRES_COMMAND_OK && !bad)
      bad = res;
    else
      pq().PQclear(res);
  }
  if (bad) throw_result(conn, bad, "COPY to the stage");
}

soci::statement* CopyStageStatement::execute(bool fetch_first) {
  if (rows_ == 0) return nullptr;
  close_row();
  try {
    copy_rows();
    if (!st_) {
      auto st = std::make_unique<soci::statement>(sql_);
      if (intos_) intos_(*st);
      st->exchange(soci::use(first_));
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
