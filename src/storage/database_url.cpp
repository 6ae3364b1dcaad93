// IOTD_DATABASE_URL parsing: SQLAlchemy-style URLs to SOCI backend names and connect strings.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iotd/storage/database.hpp"
#include "iotd/core/text.hpp"

namespace iotd::storage {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::invalid_argument("IOTD_DATABASE_URL: " + what);
}

using text::lower;
using text::trim;

// Seconds a PostgreSQL or MySQL connection attempt may take unless the URL sets
// ?connect_timeout=N itself.
constexpr int kDefaultConnectTimeoutS = 10;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s, std::string_view what) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
    int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
    if (hi < 0 || lo < 0) fail("bad percent-encoding in the " + std::string(what));
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// Quoted for both libpq conninfo and SOCI's MySQL connect-string parser: '…' with
// backslash escapes.
std::string quote(std::string_view v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view item = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    std::string key = lower(item.substr(0, eq));
    std::string value =
        eq == std::string_view::npos ? std::string{} : percent_decode(item.substr(eq + 1), "query");
    if (key.empty() || !std::all_of(key.begin(), key.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
        }))
      fail("bad query parameter '" + std::string(item) + "'");
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

ConnectionSpec sqlite_spec(std::string_view path, std::string_view query) {
  ConnectionSpec spec;
  spec.backend = "sqlite3";
  spec.dialect = "sqlite";
  for (auto& [key, value] : parse_query(query)) {
    if (key == "timeout") {
      double seconds = 0;
      auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
      if (ec != std::errc{} || p != value.data() + value.size() || !(seconds >= 0) ||
          seconds > 3600)
        fail("sqlite option timeout must be seconds (0-3600), got '" + value + "'");
      spec.busy_timeout_ms = static_cast<int>(seconds * 1000);
    } else if (key == "check_same_thread") {
      // A Python sqlite3 argument found in SQLAlchemy URLs; meaningless here.
    } else {
      fail("unsupported sqlite option '" + key + "' (known: timeout)");
    }
  }
  if (path.empty()) fail("sqlite URL has no file path (use sqlite:///relative.db or sqlite:////abs.db)");
  if (path == ":memory:")
    fail("sqlite in-memory databases are not supported (each pooled session would see its own)");
  if (path.find('"') != std::string_view::npos) fail("sqlite path must not contain '\"'");
  spec.sqlite_path = std::string(path);
  // SOCI's sqlite3 parser splits on spaces; it understands db="a b".
  bool needs_quotes = spec.sqlite_path.find_first_of(" \t") != std::string::npos;
  spec.connect_string = "db=" + (needs_quotes ? "\"" + spec.sqlite_path + "\"" : spec.sqlite_path) +
                        " timeout=" + std::to_string((spec.busy_timeout_ms + 999) / 1000);
  spec.display = "sqlite:" + spec.sqlite_path;
  return spec;
}

ConnectionSpec server_spec(std::string_view dialect, std::string_view rest) {
  ConnectionSpec spec;
  spec.dialect = std::string(dialect);
  spec.backend = std::string(dialect);  // SOCI names: postgresql, mysql
  const bool pg = dialect == "postgresql";

  std::string_view query;
  if (auto q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  std::string_view authority = rest, path;
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    authority = rest.substr(0, slash);
    path = rest.substr(slash + 1);
  }
  std::string user, password;
  bool has_password = false;
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = percent_decode(userinfo.substr(0, colon), "user name");
      password = percent_decode(userinfo.substr(colon + 1), "password");
      has_password = true;
    } else {
      user = percent_decode(userinfo, "user name");
    }
  }
  std::string host;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) fail("unterminated '[' in host");
    host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail("bad text after ']' in host");
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    host = percent_decode(authority.substr(0, colon), "host");
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (host.empty()) fail("missing host (" + std::string(dialect) + "://user:password@host:port/database)");
  int port = pg ? 5432 : 3306;
  if (!port_text.empty()) {
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || p != port_text.data() + port_text.size() || port < 1 || port > 65535)
      fail("invalid port '" + std::string(port_text) + "'");
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  std::string database = percent_decode(path, "database name");
  if (database.empty()) fail("missing database name (" + std::string(dialect) + "://…/database)");

  std::string cs = "host=" + quote(host) + " port=" + std::to_string(port) +
                   (pg ? " dbname=" : " db=") + quote(database);
  if (!user.empty()) cs += " user=" + quote(user);
  if (has_password) cs += " password=" + quote(password);
  bool has_connect_timeout = false;
  for (auto& [key, value] : parse_query(query)) {
    if (!pg) {
      // SOCI's MySQL backend rejects keys it does not know.
      static constexpr std::string_view kMysqlKeys[] = {
          "charset", "sslca", "sslcert", "sslkey", "unix_socket", "connect_timeout",
          "read_timeout", "write_timeout"};
      if (std::find(std::begin(kMysqlKeys), std::end(kMysqlKeys), key) == std::end(kMysqlKeys))
        fail("unsupported mysql option '" + key +
             "' (known: charset, sslca, sslcert, sslkey, unix_socket, connect_timeout, "
             "read_timeout, write_timeout)");
    }
    cs += " " + key + "=" + quote(value);  // libpq reports unknown keys itself
    has_connect_timeout = has_connect_timeout || key == "connect_timeout";
  }
  // Without a bound, a database host that drops packets holds start-up, a reconnect after
  // an outage, and every pooled read in connect() for as long as TCP retries (minutes).
  if (!has_connect_timeout) cs += " connect_timeout=" + std::to_string(kDefaultConnectTimeoutS);
  spec.connect_string = std::move(cs);

  bool v6 = host.find(':') != std::string::npos;
  spec.display = std::string(dialect) + "://" + (user.empty() ? "" : user + "@") +
                 (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/" + database;
  return spec;
}

}  // namespace

ConnectionSpec parse_database_url(std::string_view url) {
  url = trim(url);
  if (url.empty()) fail("empty (e.g. sqlite:///data/iotd.db or postgresql://user:pass@host/db)");
  auto sep = url.find("://");
  if (sep == std::string_view::npos) {
    // sqlite:PATH or a bare path.
    if (lower(url.substr(0, 7)) == "sqlite:") return sqlite_spec(url.substr(7), {});
    return sqlite_spec(url, {});
  }
  std::string scheme = lower(url.substr(0, sep));
  if (auto plus = scheme.find('+'); plus != std::string::npos) scheme.resize(plus);  // +driver
  std::string_view rest = url.substr(sep + 3);
  if (scheme == "sqlite" || scheme == "sqlite3") {
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    // sqlite:///rel.db -> "rel.db", sqlite:////abs.db -> "/abs.db", sqlite://rel.db -> "rel.db"
    if (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    return sqlite_spec(rest, query);
  }
  if (scheme == "postgresql" || scheme == "postgres" || scheme == "pgsql")
    return server_spec("postgresql", rest);
  if (scheme == "mysql" || scheme == "mariadb") return server_spec("mysql", rest);
  fail("unsupported scheme '" + scheme + "' (use sqlite, postgresql or mysql)");
}

}  // namespace iotd::storage
