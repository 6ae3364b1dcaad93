// Private to src/storage: SQL shared by the writer's store and the read repository, and a
// small builder that assembles a query from constant fragments with bound parameters
// (values are never spliced into SQL text). Use a builder from one thread.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "dialect.hpp"
#include "iotd/storage/types.hpp"

namespace soci {
class session;
class statement;
}  // namespace soci

namespace iotd::storage::detail {

class SqlBuilder {
 public:
  explicit SqlBuilder(std::string_view base) : text_(base) {}
  SqlBuilder& add(std::string_view fragment);
  // `fragment` holds exactly one placeholder, bound to `value`.
  SqlBuilder& add(std::string_view fragment, long long value);
  SqlBuilder& add(std::string_view fragment, std::string value);
  const std::string& text() const { return text_; }
  // Binds the parameters (by position, in the order added) to `st`; call before prepare().
  void bind(soci::statement& st);

 private:
  std::string text_;
  std::deque<long long> ints_;  // deque: bound by reference, must not move
  std::deque<std::string> strings_;
  std::vector<std::variant<long long*, std::string*>> params_;
};

// "SELECT <alert columns> FROM alerts a LEFT JOIN devices d ON d.pk = a.device_pk" — add a
// " WHERE …" and ORDER BY / LIMIT.
extern const std::string_view kSelectAlerts;
std::vector<Alert> fetch_alerts(soci::session& s, SqlBuilder& q);
std::vector<Rule> fetch_rules(soci::session& s);
std::optional<std::int64_t> find_device_pk(soci::session& s, const std::string& device_id);
// Inserts one alert row (the writer's and the manual-alert path); returns its id.
std::int64_t insert_alert_row(soci::session& s, const SqlDialect& d, long long device_pk,
                              const Alert& a);
std::optional<std::int64_t> find_metric_id(soci::session& s, const std::string& name);

}  // namespace iotd::storage::detail
