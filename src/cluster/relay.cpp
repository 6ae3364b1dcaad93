// The relay between instances (docs/architecture.md §21): one libpq connection, LISTEN on
// the commit and change channels, poll() with a 100 ms timeout (which also bounds how long
// a queued announcement waits), reconnect with back-off (200 ms .. 5 s).
#include "iotd/cluster/relay.hpp"

#include <libpq-fe.h>
#include <poll.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>

#include "../storage/libpq.hpp"
#include "iotd/core/log.hpp"
#include "iotd/core/thread_name.hpp"

namespace iotd::cluster {

namespace {
const storage::LibPq& pq() { return storage::libpq(); }
}  // namespace

struct ClusterRelay::Conn {
  PGconn* pg = nullptr;
  ~Conn() {
    if (pg) pq().PQfinish(pg);
  }
  bool ok() const { return pg && pq().PQstatus(pg) == CONNECTION_OK; }
  // Runs a command; false (logged) on failure.
  bool exec(const char* sql, const std::vector<std::string>& params = {}) {
    std::vector<const char*> p;
    for (const auto& s : params) p.push_back(s.c_str());
    PGresult* r = pq().PQexecParams(pg, sql, static_cast<int>(p.size()), nullptr, p.data(), nullptr, nullptr, 0);
    const auto st = pq().PQresultStatus(r);
    const bool good = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!good) spdlog::warn("cluster relay: {}: {}", sql, pq().PQerrorMessage(pg));
    pq().PQclear(r);
    return good;
  }
};

ClusterRelay::ClusterRelay(std::string conninfo, std::string instance_id, storage::Repository& repo,
                           RelayHandlers h)
    : conninfo_(std::move(conninfo)), instance_id_(std::move(instance_id)), repo_(repo), h_(std::move(h)) {}

ClusterRelay::~ClusterRelay() { stop(); }

void ClusterRelay::start() {
  storage::libpq();  // a missing libpq is a start-up error, not a retry loop
  thread_ = std::jthread([this](std::stop_token st) {
    set_thread_name("iotd-relay");
    run(st);
  });
}

void ClusterRelay::stop() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
}

void ClusterRelay::announce_rules() {
  std::lock_guard lock(mu_);
  pending_.push_back(nlohmann::json{{"i", instance_id_}, {"k", "rules"}}.dump());
}

void ClusterRelay::announce_device(const std::string& device_id) {
  std::lock_guard lock(mu_);
  pending_.push_back(nlohmann::json{{"i", instance_id_}, {"k", "device"}, {"d", device_id}}.dump());
}

void ClusterRelay::send_pending(Conn& c) {
  std::vector<std::string> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
  }
  std::size_t sent = 0;
  for (; sent < batch.size(); ++sent)
    if (!c.exec("SELECT pg_notify($1, $2)", {kChangeChannel, batch[sent]})) break;
  if (sent < batch.size()) {  // kept for the next connection, in order
    std::lock_guard lock(mu_);
    pending_.insert(pending_.begin(), batch.begin() + static_cast<std::ptrdiff_t>(sent), batch.end());
  }
}

void ClusterRelay::run(std::stop_token st) {
  log::ModuleScope module("cluster");
  std::chrono::milliseconds delay{200};
  bool first = true;
  while (!st.stop_requested()) {
    Conn c;
    // application_name "iotd-relay <instance id>": which backend is whose relay in
    // pg_stat_activity (operators; the Cluster tests end it there).
    const std::string app = "iotd-relay " + instance_id_;
    const char* keys[] = {"dbname", "application_name", nullptr};
    const char* values[] = {conninfo_.c_str(), app.c_str(), nullptr};
    c.pg = pq().PQconnectdbParams(keys, values, 1);
    if (!c.ok() || !c.exec("LISTEN iotd_commits") || !c.exec("LISTEN iotd_changes")) {
      spdlog::warn("cluster relay: cannot listen on the database (retrying in {} ms): {}", delay.count(),
                   c.pg ? pq().PQerrorMessage(c.pg) : "out of memory");
      for (auto until = std::chrono::steady_clock::now() + delay;
           std::chrono::steady_clock::now() < until && !st.stop_requested();)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      delay = std::min<std::chrono::milliseconds>(delay * 2, std::chrono::seconds(5));
      continue;
    }
    delay = std::chrono::milliseconds(200);
    connected_ = true;
    spdlog::info("cluster relay: listening for other instances' commits and changes");
    if (!first && h_.resync) h_.resync();  // notifications sent while we were away are lost
    if (h_.latest) catch_up_latest(c);
    first = false;
    while (!st.stop_requested() && c.ok()) {
      send_pending(c);
      pollfd pfd{pq().PQsocket(c.pg), POLLIN, 0};
      if (::poll(&pfd, 1, 100) < 0) continue;
      if (!pq().PQconsumeInput(c.pg)) break;
      while (PGnotify* n = pq().PQnotifies(c.pg)) {
        std::string channel = n->relname, payload = n->extra;
        pq().PQfreemem(n);
        try {
          handle(c, channel, payload);
        } catch (const std::exception& e) {
          spdlog::error("cluster relay: notification on {} not applied: {}", channel, e.what());
        }
      }
    }
    connected_ = false;
    if (!st.stop_requested()) spdlog::warn("cluster relay: connection lost: {}", pq().PQerrorMessage(c.pg));
  }
}

// The latest values as stored (the writers' own query, src/storage/soci_write_store.cpp),
// read after LISTEN: whatever committed before is in them, whatever commits after is
// notified; the cache keeps the newer device time of both.
void ClusterRelay::catch_up_latest(Conn& c) {
  PGresult* r = pq().PQexec(c.pg,
                       "SELECT d.device_id, d.last_seen_at, mn.name, lv.ts, lv.value "
                       "FROM devices d "
                       "JOIN latest_values lv ON lv.device_pk = d.pk "
                       "JOIN metric_names mn ON mn.id = lv.metric_id "
                       "WHERE d.status <> 'deleted' ORDER BY d.device_id");
  std::unique_ptr<PGresult, decltype(&PQclear)> owned(r, pq().PQclear);
  if (pq().PQresultStatus(r) != PGRES_TUPLES_OK) {
    spdlog::warn("cluster relay: reading the latest values: {}", pq().PQerrorMessage(c.pg));
    return;
  }
  std::vector<storage::DeviceLatest> rows;
  try {
    for (int row = 0; row < pq().PQntuples(r); ++row) {
      const std::string device = pq().PQgetvalue(r, row, 0);
      if (rows.empty() || rows.back().device_id != device) {
        rows.emplace_back();
        rows.back().device_id = device;
        if (!pq().PQgetisnull(r, row, 1)) rows.back().last_seen_at_ms = std::stoll(pq().PQgetvalue(r, row, 1));
      }
      rows.back().metrics[pq().PQgetvalue(r, row, 2)] =
          storage::LatestValue{std::stod(pq().PQgetvalue(r, row, 4)), std::stoll(pq().PQgetvalue(r, row, 3))};
    }
  } catch (const std::exception& e) {
    spdlog::warn("cluster relay: reading the latest values: {}", e.what());
    return;
  }
  h_.latest(std::move(rows));
}

void ClusterRelay::handle(Conn& c, const std::string& channel, const std::string& payload) {
  const auto j = nlohmann::json::parse(payload);
  if (j.value("i", std::string()) == instance_id_) return;  // our own
  if (channel == kChangeChannel) {
    const auto kind = j.value("k", std::string());
    if (kind == "rules" && h_.rules_changed) h_.rules_changed();
    if (kind == "device" && h_.device_changed) h_.device_changed(j.value("d", std::string()));
    return;
  }
  if (channel != kCommitChannel || !h_.commit) return;
  ingest::CommitEvent ev;
  const auto& ids = j.at("m");
  if (!ids.empty()) {
    std::string array = "{";
    for (const auto& id : ids) array += (array.size() > 1 ? "," : "") + std::to_string(id.get<std::int64_t>());
    array += "}";
    const char* params[] = {array.c_str()};
    PGresult* r = pq().PQexecParams(c.pg,
                               "SELECT m.id, d.device_id, m.ts, m.received_at, m.metrics "
                               "FROM messages m JOIN devices d ON d.pk = m.device_pk "
                               "WHERE m.id = ANY($1::bigint[]) ORDER BY m.id",
                               1, nullptr, params, nullptr, nullptr, 0);
    std::unique_ptr<PGresult, decltype(&PQclear)> owned(r, pq().PQclear);  // also on a throw below
    if (pq().PQresultStatus(r) != PGRES_TUPLES_OK)
      throw std::runtime_error(std::string("reading committed messages: ") + pq().PQerrorMessage(c.pg));
    for (int row = 0; row < pq().PQntuples(r); ++row) {
      Reading rd;
      rd.device_id = pq().PQgetvalue(r, row, 1);
      rd.ts_ms = std::stoll(pq().PQgetvalue(r, row, 2));
      rd.received_at_ms = std::stoll(pq().PQgetvalue(r, row, 3));
      const auto metrics = nlohmann::json::parse(pq().PQgetvalue(r, row, 4));  // sorted by name
      for (const auto& [name, value] : metrics.items())
        if (value.is_number()) rd.metrics.emplace_back(name, value.get<double>());
      ev.reading_ids.push_back(std::stoll(pq().PQgetvalue(r, row, 0)));
      ev.readings.push_back(std::move(rd));
    }
  }
  for (const auto& id : j.at("a"))
    if (auto a = repo_.alert(id.get<std::int64_t>())) ev.alerts.push_back(std::move(*a));
  if (!ev.readings.empty() || !ev.alerts.empty()) h_.commit(std::move(ev));
}

}  // namespace iotd::cluster
