#include "support/iotd_process.hpp"

#include <gtest/gtest.h>
#include <soci/soci.h>

#include <atomic>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <thread>

#include "iotd/storage/database.hpp"

#include "support/http_client.hpp"
#include "support/services.hpp"

#ifndef IOTD_BINARY
#define IOTD_BINARY "iotd"
#endif

namespace iotd::test {

nlohmann::json HttpReply::json() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) throw std::runtime_error("response is not JSON: " + body.substr(0, 300));
  return j;
}

IotdProcess::IotdProcess(Options opts) : opts_(std::move(opts)) {
  std::filesystem::create_directories(opts_.data_dir);
  port_ = free_tcp_port();
  start();
}

IotdProcess::~IotdProcess() {
  if (process_) process_->stop(std::chrono::seconds(30));
}

std::string IotdProcess::log() const {
  return process_ ? process_->read_log() : std::string();
}

std::string IotdProcess::database_url() const {
  auto it = opts_.env.find("IOTD_DATABASE_URL");
  return it != opts_.env.end() ? it->second : sqlite_url(db_path());
}

void IotdProcess::start() {
  ProcessOptions po;
  po.log_file = opts_.data_dir / "iotd.log";
  po.cwd = opts_.data_dir;
  po.env["IOTD_HTTP_LISTEN"] = "127.0.0.1:" + std::to_string(port_);
  po.env["IOTD_DATABASE_URL"] = sqlite_url(db_path());
  po.env["IOTD_JOURNAL_DIR"] = (opts_.data_dir / "journal").string();
  po.env["IOTD_MQTT_URL"] = opts_.mqtt_url;
  po.env["IOTD_INSTANCE_ID"] = "itest";
  po.env["IOTD_MQTT_CLIENT_ID"] = "iotd-itest-" + std::to_string(port_);
  po.env["IOTD_ADMIN_KEY"] = kTestAdminKey;
  po.env["IOTD_IO_THREADS"] = "2";
  for (const auto& [k, v] : opts_.env) po.env[k] = v;
  process_.emplace(std::vector<std::string>{IOTD_BINARY}, po);
  // An HTTPS server answers plain HTTP with 400: accepting connections is ready enough
  // (tls_test.cpp talks to it with curl).
  const auto cert = po.env.find("IOTD_HTTP_TLS_CERT");
  const bool tls = cert != po.env.end() && !cert->second.value_or("").empty();
  bool live = eventually(
      [&] {
        if (!process_->running()) return true;
        if (tls) return wait_for_tcp(port_, Clock::now() + std::chrono::milliseconds(20));
        try {
          return get("/api/v1/health/live").status == 200;
        } catch (const std::exception&) {
          return false;
        }
      },
      opts_.start_timeout);
  if (!live || !process_->running())
    throw std::runtime_error("iotd did not become live; log:\n" + process_->read_log());
}

int IotdProcess::stop(std::chrono::milliseconds grace) {
  if (!process_) return -1;
  int status = process_->stop(grace);
  return Process::exit_code(status);
}

void IotdProcess::kill9() {
  if (!process_) return;
  process_->kill(SIGKILL);
  process_->wait_exit(std::chrono::seconds(10));
}

void IotdProcess::signal(int sig) {
  if (process_) process_->kill(sig);
}

HttpReply IotdProcess::request(const std::string& method, const std::string& target,
                               const std::string& body, const std::map<std::string, std::string>& headers) {
  HttpClient client("127.0.0.1", port_);
  HttpHeaders h(headers.begin(), headers.end());
  auto r = client.request(method, target, body, h);
  return HttpReply{r.status, r.body, r.headers};
}

HttpReply IotdProcess::get(const std::string& target, const std::map<std::string, std::string>& headers) {
  return request("GET", target, "", headers);
}

HttpReply IotdProcess::post(const std::string& target, const std::string& body,
                            const std::map<std::string, std::string>& headers) {
  return request("POST", target, body, headers);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

namespace {

std::unique_ptr<soci::session> open_db(const std::string& database_url) {
  const storage::ConnectionSpec spec = storage::parse_database_url(database_url);
  return std::make_unique<soci::session>(spec.backend, spec.connect_string);
}

}  // namespace

std::int64_t db_count(const std::string& database_url, const std::string& sql_count_query) {
  auto s = open_db(database_url);
  long long n = 0;
  *s << sql_count_query, soci::into(n);
  return n;
}

std::vector<double> db_metric_values(const std::string& database_url, const std::string& name) {
  auto s = open_db(database_url);
  std::vector<double> out;
  soci::rowset<std::string> rows = (s->prepare << "SELECT metrics FROM messages");
  for (const auto& text : rows) {
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_object() && j.contains(name) && j[name].is_number()) out.push_back(j[name].get<double>());
  }
  return out;
}

IotdRun run_iotd(const std::filesystem::path& dir, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env, std::chrono::milliseconds timeout) {
  static std::atomic<int> runs{0};
  ProcessOptions po;
  po.log_file = dir / ("run-" + std::to_string(++runs) + ".txt");
  po.cwd = dir;
  for (const auto& [k, v] : env) po.env[k] = v;
  std::vector<std::string> argv{IOTD_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  IotdRun r;
  r.code = Process::exit_code(run_process(argv, po, timeout));
  r.out = read_file(po.log_file);
  return r;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void expect_each_n_once(const std::string& database_url, int expected) {
  const auto values = db_metric_values(database_url, "n");
  std::set<long long> unique;
  for (double v : values) unique.insert(static_cast<long long>(v));
  EXPECT_EQ(values.size(), static_cast<std::size_t>(expected)) << "rows stored (duplicates if more)";
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(expected)) << "distinct messages (lost if fewer)";
  if (!unique.empty()) {
    EXPECT_EQ(*unique.begin(), 0);
    EXPECT_EQ(*unique.rbegin(), expected - 1);
  }
}

std::string sqlite_url(const std::filesystem::path& db) { return "sqlite:///" + db.string(); }

std::int64_t sqlite_count(const std::filesystem::path& db, const std::string& sql_count_query) {
  return db_count(sqlite_url(db), sql_count_query);
}

std::vector<double> sqlite_metric_values(const std::filesystem::path& db, const std::string& name) {
  return db_metric_values(sqlite_url(db), name);
}

}  // namespace iotd::test
