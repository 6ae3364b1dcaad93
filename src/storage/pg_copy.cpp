#include "pg_copy.hpp"

#include <soci/postgresql/soci-postgresql.h>

#include <algorithm>
#include <cstdlib>
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
                                       std::vector<Type> cols, std::size_t max_rows, IntoBinder intos,
                                       std::optional<DirectCopy> direct)
    : sql_(s), stage_(std::move(stage)), text_(std::move(sql)), cols_(std::move(cols)),
      max_rows_(max_rows), intos_(std::move(intos)), direct_(std::move(direct)) {
  if (cols_.empty() || max_rows_ == 0) throw std::logic_error("CopyStageStatement: empty shape");
  if (direct_ && direct_->columns.size() != cols_.size())
    throw std::logic_error("CopyStageStatement: the direct target's columns do not match");
  std::string ddl = "CREATE TEMP TABLE IF NOT EXISTS " + stage_ + " (ord BIGINT NOT NULL";
  stage_copy_ = "COPY " + stage_ + "(ord";
  for (std::size_t c = 0; c < cols_.size(); ++c) {
    ddl += ", c" + std::to_string(c);
    switch (cols_[c]) {
      case Type::integer: ddl += " BIGINT"; break;
      case Type::real: ddl += " DOUBLE PRECISION"; break;
      case Type::text: ddl += " TEXT"; break;
    }
    stage_copy_ += ", c" + std::to_string(c);
  }
  ddl += ") ON COMMIT DELETE ROWS";
  stage_copy_ += ") FROM STDIN";
  sql_ << ddl;
  if (direct_) {
    // The sequence behind the id column, schema-qualified as the server resolves it.
    soci::indicator ind = soci::i_null;
    sql_ << "SELECT pg_get_serial_sequence(:t, :c)", soci::into(id_sequence_, ind),
        soci::use(direct_->table), soci::use(direct_->id_column);
    if (ind != soci::i_ok)
      throw std::logic_error("CopyStageStatement: " + direct_->table + "." + direct_->id_column +
                             " has no sequence");
    direct_copy_ = "COPY " + direct_->table + "(" + direct_->id_column;
    for (const auto& c : direct_->columns) direct_copy_ += ", " + c;
    direct_copy_ += ") FROM STDIN";
  }
}

std::string CopyStageStatement::select(std::string_view stage, std::size_t ncols, bool with_ord) {
  std::string out = with_ord ? "SELECT ord, " : "SELECT ";
  for (std::size_t c = 0; c < ncols; ++c) out += (c ? ", c" : "c") + std::to_string(c);
  out += " FROM ";
  out += stage;
  out += " WHERE ord >= :first ORDER BY ord";
  return out;
}

// Rows are kept without their ord (row_starts_ marks where each begins); execute() numbers
// them. With a direct target the ords are the rows' ids, drawn from the sequence for exactly
// the chunk as it runs, ascending: the staged statement's "ord >= :first" still selects
// exactly the chunk, the rows keep their order either way, and ids keep the order in which
// their transactions drew them, as with the sequence default. Ids of a chunk that went the
// staged way and skipped a duplicate, or was rolled back, are gaps, as a sequence always has.
void CopyStageStatement::add_row() {
  if (rows_ == max_rows_) throw std::logic_error("CopyStageStatement: chunk is full");
  if (rows_) close_row();
  row_starts_.push_back(buf_.size());
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
  row_starts_.clear();
  ords_.clear();
  copy_text_.clear();
}

// The chunk's ords: ids from the sequence (direct target) or the session's counter.
void CopyStageStatement::number_rows(PGconn* conn) {
  ords_.clear();
  if (!direct_) {
    for (std::size_t i = 0; i < rows_; ++i) ords_.push_back(next_ord_++);
  } else {
    const std::string n = std::to_string(rows_);
    const char* params[] = {id_sequence_.c_str(), n.c_str()};
    PGresult* res = pq().PQexecParams(conn, "SELECT nextval($1::regclass) FROM generate_series(1, $2::int)",
                                      2, nullptr, params, nullptr, nullptr, 0);
    if (!res || pq().PQresultStatus(res) != PGRES_TUPLES_OK) throw_result(conn, res, "drawing message ids");
    const int got = pq().PQntuples(res);
    for (int i = 0; i < got; ++i) ords_.push_back(std::strtoll(pq().PQgetvalue(res, i, 0), nullptr, 10));
    pq().PQclear(res);
    if (ords_.size() != rows_) throw std::runtime_error("drawing message ids: too few returned");
  }
  first_ = ords_.front();
  copy_text_.clear();
  for (std::size_t i = 0; i < rows_; ++i) {
    append_copy_field(copy_text_, ords_[i]);
    const std::size_t from = row_starts_[i], to = i + 1 < rows_ ? row_starts_[i + 1] : buf_.size();
    copy_text_.append(buf_, from, to - from);
  }
}

namespace {

// One COPY … FROM STDIN of `rows`. nullptr when the server took them all, else its error
// result (the caller's to clear). A connection that fails on the way throws.
PGresult* copy_in(PGconn* conn, const std::string& command, const std::string& rows, const char* what) {
  PGresult* res = pq().PQexec(conn, command.c_str());
  if (!res || pq().PQresultStatus(res) != PGRES_COPY_IN) {
    if (res && pq().PQresultStatus(res) == PGRES_FATAL_ERROR) return res;
    throw_result(conn, res, what);
  }
  pq().PQclear(res);
  constexpr std::size_t kPiece = std::size_t{1} << 20;
  bool sent = true;
  for (std::size_t at = 0; sent && at < rows.size(); at += kPiece)
    sent = pq().PQputCopyData(conn, rows.data() + at, static_cast<int>(std::min(kPiece, rows.size() - at))) == 1;
  if (!sent || pq().PQputCopyEnd(conn, nullptr) != 1) throw_result(conn, nullptr, what);
  PGresult* bad = nullptr;
  while ((res = pq().PQgetResult(conn)) != nullptr) {
    if (pq().PQresultStatus(res) != PGRES_COMMAND_OK && !bad)
      bad = res;
    else
      pq().PQclear(res);
  }
  return bad;
}

void exec_ok(PGconn* conn, const char* command) {
  PGresult* res = pq().PQexec(conn, command);
  if (!res || pq().PQresultStatus(res) != PGRES_COMMAND_OK) throw_result(conn, res, command);
  pq().PQclear(res);
}

constexpr std::string_view kUniqueViolation = "23505";

}  // namespace

// The chunk straight into the real table, under a savepoint. False (the savepoint rolled
// back, nothing of the chunk stored) when a row collides with a stored one or with another
// row of the chunk; any other failure throws and leaves the transaction to the caller.
bool CopyStageStatement::copy_direct(PGconn* conn) {
  exec_ok(conn, "SAVEPOINT iotd_direct_copy");
  PGresult* bad = copy_in(conn, direct_copy_, copy_text_, "COPY into the table");
  if (!bad) {
    exec_ok(conn, "RELEASE SAVEPOINT iotd_direct_copy");
    return true;
  }
  const char* state = pq().PQresultErrorField(bad, PG_DIAG_SQLSTATE);
  if (!state || state != kUniqueViolation) throw_result(conn, bad, "COPY into the table");
  pq().PQclear(bad);
  exec_ok(conn, "ROLLBACK TO SAVEPOINT iotd_direct_copy");
  exec_ok(conn, "RELEASE SAVEPOINT iotd_direct_copy");
  return false;
}

soci::statement* CopyStageStatement::execute(bool fetch_first) {
  direct_ids_.clear();
  if (rows_ == 0) return nullptr;
  close_row();
  try {
    PGconn* conn = pg_conn(sql_);
    // Outside a transaction the COPY would commit on its own and ON COMMIT DELETE ROWS would
    // empty the stage before the statement reads it.
    if (pq().PQtransactionStatus(conn) != PQTRANS_INTRANS)
      throw std::logic_error("CopyStageStatement::execute() outside a transaction");
    number_rows(conn);
    if (direct_ && backoff_ == 0) {
      if (copy_direct(conn)) {
        direct_ids_.swap(ords_);
        clear();
        return nullptr;
      }
      ++fallbacks_;
      backoff_ = kDirectBackoff;
    } else if (backoff_) {
      --backoff_;
    }
    if (PGresult* bad = copy_in(conn, stage_copy_, copy_text_, "COPY to the stage"))
      throw_result(conn, bad, "COPY to the stage");
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
