// The commands table (include/iotd/storage/commands.hpp): a small SOCI pool of its own, so
// the command service's updates (PUBACKs, the expiry sweep) never wait behind long API
// reads. Every state change is one conditional UPDATE ("… WHERE state IN ('pending',
// 'sent')"), so the writer's acks, the sweep and the publish completions may race: the
// first to commit wins and the others change nothing.
#include <soci/soci.h>

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "command_sql.hpp"
#include "dialect.hpp"
#include "iotd/storage/database.hpp"
#include "session_pool.hpp"
#include "sql_common.hpp"

namespace iotd::storage {

bool valid_command_state(std::string_view s) {
  using namespace command_state;
  return s == pending || s == sent || s == acknowledged || s == failed || s == expired;
}

namespace detail {

std::vector<AckMatch> apply_command_acks(soci::session& s, std::span<const CommandAckUpdate> acks) {
  std::vector<AckMatch> out;
  out.reserve(acks.size());
  for (const auto& a : acks) {
    std::string state(a.ok ? command_state::acknowledged : command_state::failed);
    long long at = a.at_ms;
    soci::statement st = (s.prepare << "UPDATE commands SET state = :s, completed_at = :t, message = :m "
                                       "WHERE command_id = :c AND device_id = :d "
                                       "AND state IN ('pending', 'sent')",
                          soci::use(state), soci::use(at), soci::use(a.message),
                          soci::use(a.command_id), soci::use(a.device_id));
    st.execute(true);
    if (st.get_affected_rows() > 0) {
      out.push_back(AckMatch::applied);
      continue;
    }
    long long n = 0;
    s << "SELECT COUNT(*) FROM commands WHERE command_id = :c AND device_id = :d", soci::into(n),
        soci::use(a.command_id), soci::use(a.device_id);
    out.push_back(n > 0 ? AckMatch::late : AckMatch::unknown);
  }
  return out;
}

}  // namespace detail

namespace {

constexpr std::string_view kSelectCommands =
    "SELECT command_id, device_id, command, parameters, state, issued_at, sent_at, "
    "completed_at, expires_at, message FROM commands";

std::vector<Command> fetch_commands(soci::session& s, detail::SqlBuilder& q) {
  Command c;
  long long issued = 0, sent = 0, completed = 0, expires = 0;
  soci::indicator sent_ind, completed_ind;
  soci::statement st(s);
  st.exchange(soci::into(c.command_id));
  st.exchange(soci::into(c.device_id));
  st.exchange(soci::into(c.command));
  st.exchange(soci::into(c.parameters));
  st.exchange(soci::into(c.state));
  st.exchange(soci::into(issued));
  st.exchange(soci::into(sent, sent_ind));
  st.exchange(soci::into(completed, completed_ind));
  st.exchange(soci::into(expires));
  st.exchange(soci::into(c.message));
  q.bind(st);
  st.alloc();
  st.prepare(q.text());
  st.define_and_bind();
  st.execute();
  std::vector<Command> out;
  while (st.fetch()) {
    Command row = c;
    row.issued_at_ms = issued;
    row.expires_at_ms = expires;
    if (sent_ind == soci::i_ok) row.sent_at_ms = sent;
    if (completed_ind == soci::i_ok) row.completed_at_ms = completed;
    out.push_back(std::move(row));
  }
  return out;
}

class SociCommandRepository final : public CommandRepository {
 public:
  SociCommandRepository(const ConnectionSpec& spec, int pool_size) : pool_(spec, pool_size) {}

  bool device_exists(const std::string& device_id) override {
    return with_session([&](soci::session& s) { return detail::find_device_pk(s, device_id).has_value(); });
  }

  void insert(const Command& c) override {
    with_session([&](soci::session& s) {
      long long issued = c.issued_at_ms, expires = c.expires_at_ms;
      s << "INSERT INTO commands(command_id, device_id, command, parameters, state, issued_at, "
           "expires_at, message) VALUES(:c, :d, :cmd, :p, :s, :i, :e, :m)",
          soci::use(c.command_id), soci::use(c.device_id), soci::use(c.command),
          soci::use(c.parameters), soci::use(c.state), soci::use(issued), soci::use(expires),
          soci::use(c.message);
      return 0;
    });
  }

  void mark_sent(const std::string& command_id, std::int64_t at_ms) override {
    with_session([&](soci::session& s) {
      long long at = at_ms;
      s << "UPDATE commands SET sent_at = :t, "
           "state = CASE WHEN state = 'pending' THEN 'sent' ELSE state END "
           "WHERE command_id = :c AND sent_at IS NULL",
          soci::use(at), soci::use(command_id);
      return 0;
    });
  }

  bool mark_failed(const std::string& command_id, const std::string& message, std::int64_t at_ms) override {
    return with_session([&](soci::session& s) {
      long long at = at_ms;
      soci::statement st = (s.prepare << "UPDATE commands SET state = 'failed', completed_at = :t, "
                                         "message = :m WHERE command_id = :c "
                                         "AND state IN ('pending', 'sent')",
                            soci::use(at), soci::use(message), soci::use(command_id));
      st.execute(true);
      return st.get_affected_rows() > 0;
    });
  }

  std::int64_t expire(std::int64_t now_ms, const std::string& message) override {
    return with_session([&](soci::session& s) -> std::int64_t {
      long long now = now_ms, due = 0;
      // A read first: an UPDATE would take SQLite's write lock on every sweep.
      s << "SELECT COUNT(*) FROM commands WHERE state IN ('pending', 'sent') AND expires_at <= :n",
          soci::into(due), soci::use(now);
      if (due == 0) return 0;
      soci::statement st = (s.prepare << "UPDATE commands SET state = 'expired', completed_at = :t, "
                                         "message = :m WHERE state IN ('pending', 'sent') "
                                         "AND expires_at <= :n",
                            soci::use(now), soci::use(message), soci::use(now));
      st.execute(true);
      return static_cast<std::int64_t>(st.get_affected_rows());
    });
  }

  std::int64_t fail_pending(const std::string& message, std::int64_t at_ms) override {
    return with_session([&](soci::session& s) -> std::int64_t {
      long long at = at_ms;
      soci::statement st = (s.prepare << "UPDATE commands SET state = 'failed', completed_at = :t, "
                                         "message = :m WHERE state = 'pending'",
                            soci::use(at), soci::use(message));
      st.execute(true);
      return static_cast<std::int64_t>(st.get_affected_rows());
    });
  }

  std::vector<Command> list(const CommandQuery& q) override {
    return with_session([&](soci::session& s) {
      detail::SqlBuilder sql(kSelectCommands);
      sql.add(" WHERE device_id = :d", q.device_id);
      if (q.state) sql.add(" AND state = :s", *q.state);
      sql.add(" ORDER BY issued_at DESC, id DESC");
      sql.add(" LIMIT :l", static_cast<long long>(std::max(1, q.limit)));
      if (q.offset > 0) sql.add(" OFFSET :o", static_cast<long long>(q.offset));
      return fetch_commands(s, sql);
    });
  }

  std::optional<Command> get(const std::string& device_id, const std::string& command_id) override {
    return with_session([&](soci::session& s) -> std::optional<Command> {
      detail::SqlBuilder sql(kSelectCommands);
      sql.add(" WHERE command_id = :c", command_id).add(" AND device_id = :d", device_id);
      auto rows = fetch_commands(s, sql);
      if (rows.empty()) return std::nullopt;
      return std::move(rows.front());
    });
  }

 private:
  template <class F>
  auto with_session(F&& f) -> decltype(f(std::declval<soci::session&>())) {
    return pool_.with_session(std::forward<F>(f));
  }

  detail::SessionPool pool_;  // sessions reopened after a lost connection (session_pool.hpp)
};

}  // namespace

std::unique_ptr<CommandRepository> make_command_repository(const ConnectionSpec& spec, int pool_size) {
  return std::make_unique<SociCommandRepository>(spec, pool_size);
}

}  // namespace iotd::storage
