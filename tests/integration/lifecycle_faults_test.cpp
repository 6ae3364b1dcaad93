// Start-up, shutdown and the broker under faults (issue 12, docs/guarantees.md): the
// database unreachable at start-up (iotd exits 1 with a message naming it,
// docs/architecture.md §12), a broker restart, and SIGTERM while a streamed export and HTTP ingest requests are in flight (the server
// drains: in-flight requests finish or get a clean error; every 201 is stored).
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "iotd/core/time.hpp"

#include "support/http_client.hpp"
#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"

#ifndef IOTD_BINARY
#define IOTD_BINARY "iotd"
#endif

namespace iotd::test {
namespace {

using namespace std::chrono_literals;

const HttpHeaders kAdmin{{"X-API-Key", kTestAdminKey}, {"Content-Type", "application/json"}};

TEST(StartupFaults, DatabaseUnreachableAtStartExitsWithStatus1AndAMessageNamingIt) {
  TempDir dir;
  const auto port = free_tcp_port();  // nobody listens here
  ProcessOptions po;
  po.log_file = dir / "iotd.log";
  po.cwd = dir.path();
  po.env["IOTD_HTTP_LISTEN"] = "127.0.0.1:" + std::to_string(free_tcp_port());
  po.env["IOTD_DATABASE_URL"] = "postgresql://iotd:secret-pw@127.0.0.1:" + std::to_string(port) + "/iotd";
  po.env["IOTD_JOURNAL_DIR"] = (dir / "journal").string();
  po.env["IOTD_MQTT_URL"] = "";
  const auto started = std::chrono::steady_clock::now();
  const int status = run_process({IOTD_BINARY}, po, 30s);
  const auto took = std::chrono::steady_clock::now() - started;
  std::ifstream in(po.log_file);
  const std::string log((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(Process::exit_code(status), 1) << log;
  EXPECT_LT(took, 15s) << "a refused connection must not hang start-up";
  EXPECT_NE(log.find("cannot use the database postgresql://iotd@127.0.0.1:" + std::to_string(port)), std::string::npos)
      << log;
  EXPECT_NE(log.find("supervisor restarts it"), std::string::npos) << log;
  EXPECT_EQ(log.find("secret-pw"), std::string::npos) << "the password must not be logged";
}

struct IngestOutcome {
  std::vector<long long> created;  // n answered 201
  int unavailable = 0;             // 503: not stored, the client retries
  int errors = 0;                  // connection refused or closed without an answer
};

// Posts single messages until the server goes away; records every 201.
void ingest_until_gone(std::uint16_t port, int client, std::atomic<bool>& stop, IngestOutcome& out) {
  const long long base = time::now_ms() - 3'600'000;
  for (long long i = 0; !stop.load(); ++i) {
    const long long n = client * 1'000'000LL + i;
    try {
      HttpClient c("127.0.0.1", port, 15s);
      auto r = c.post("/api/v1/ingest",
                      "{\"device_id\":\"ing-" + std::to_string(client) + "\",\"n\":" + std::to_string(n) +
                          ",\"timestamp\":" + std::to_string(base + i) + "}",
                      kAdmin);
      if (r.status == 201) out.created.push_back(n);
      else if (r.status == 503) ++out.unavailable;
      else ADD_FAILURE() << "unexpected " << r.status << ": " << r.body;
    } catch (const std::exception&) {
      if (++out.errors > 20) return;  // the server is gone
      std::this_thread::sleep_for(20ms);
    }
  }
}

TEST(ShutdownFaults, SigtermDrainsAStreamedExportAndLosesNoAcknowledgedIngest) {
  TempDir dir;
  auto iotd = std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", "", {}});
  // 40,000 readings of one device to export, in batches of 1000.
  constexpr int kRows = 40000;
  const long long base = time::now_ms() - 3'600'000;
  HttpClient loader("127.0.0.1", iotd->port(), 60s);
  for (int b = 0; b < kRows / 1000; ++b) {
    std::string body = "[";
    for (int i = 0; i < 1000; ++i) {
      const int k = b * 1000 + i;
      if (i) body += ",";
      body += "{\"device_id\":\"exp\",\"k\":" + std::to_string(k) + ",\"timestamp\":" + std::to_string(base + k) + "}";
    }
    body += "]";
    auto r = loader.post("/api/v1/ingest/batch", body, kAdmin);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  loader.close();

  std::atomic<bool> stop{false};
  std::vector<IngestOutcome> outcomes(4);
  std::vector<std::thread> ingesters;
  for (int c = 0; c < 4; ++c)
    ingesters.emplace_back([&, c] { ingest_until_gone(iotd->port(), c, stop, outcomes[c]); });
  ASSERT_TRUE(eventually([&] { return outcomes[0].created.size() >= 50; }, 30s)) << iotd->log();

  int export_status = 0;
  std::size_t export_lines = 0;
  std::string export_error;
  std::atomic<bool> export_sent{false};
  std::thread exporter([&] {
    try {
      HttpClient c("127.0.0.1", iotd->port(), 60s);
      c.connect();
      c.send_raw("GET /api/v1/export?device_id=exp&format=ndjson&from=-2h&limit=1000000 HTTP/1.1\r\n"
                 "Host: 127.0.0.1\r\n\r\n");
      export_sent = true;
      auto r = c.read_response();
      export_status = r.status;
      for (char ch : r.body) export_lines += ch == '\n';
    } catch (const std::exception& e) {
      export_error = e.what();
    }
  });
  ASSERT_TRUE(eventually([&] { return export_sent.load(); }, 10s));
  std::this_thread::sleep_for(20ms);  // the export is being streamed now
  iotd->signal(SIGTERM);
  const int code = iotd->stop();
  stop = true;
  exporter.join();
  for (auto& t : ingesters) t.join();
  EXPECT_EQ(code, 0) << iotd->log();

  // The export in flight at SIGTERM finished whole.
  EXPECT_EQ(export_error, "") << iotd->log();
  EXPECT_EQ(export_status, 200);
  EXPECT_EQ(export_lines, static_cast<std::size_t>(kRows));

  // Every 201 is in the database, once.
  std::size_t created = 0;
  int unavailable = 0;
  for (int c = 0; c < 4; ++c) {
    created += outcomes[c].created.size();
    unavailable += outcomes[c].unavailable;
  }
  auto values = db_metric_values(iotd->database_url(), "n");
  std::set<long long> stored(values.begin(), values.end());
  EXPECT_EQ(values.size(), stored.size()) << "a message stored twice";
  std::size_t missing = 0;
  for (const auto& o : outcomes)
    for (long long n : o.created) missing += stored.count(n) == 0;
  EXPECT_EQ(missing, 0u) << "answered 201 but not stored";
  std::printf("[ SIGTERM ] export of %d rows in flight: status %d, %zu lines; HTTP ingest: %zu answered 201 "
              "(all stored), %d answered 503, %zu rows stored\n",
              kRows, export_status, export_lines, created, unavailable, values.size());
}

// numbered messages [first, first + count) over 10 devices, with device times.
std::vector<OutMessage> numbered(int first, int count) {
  std::vector<OutMessage> out;
  const long long base_ms = 1767225600000LL;  // 2026-01-01
  for (int i = first; i < first + count; ++i)
    out.push_back({"sensors/dev" + std::to_string(i % 10) + "/data",
                   "{\"n\":" + std::to_string(i) + ",\"timestamp\":" + std::to_string(base_ms + i) + "}"});
  return out;
}

// DESIGN §4: "broker restart: nothing lost with broker persistence and a graceful restart".
TEST(BrokerRestart, QueuedMessagesSurviveAndIotdReconnectsAndStoresThemOnce) {
  TempDir dir;
  MosquittoServer broker;
  auto iotd = std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", broker.url(), {}});
  auto connected = [&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; };
  ASSERT_TRUE(eventually(connected, 15s)) << iotd->log();
  ASSERT_EQ(iotd->stop(), 0);  // the broker queues for iotd's persistent session
  ASSERT_EQ(publish_all(broker.url(), "restart-pub-a", numbered(0, 3000), 1, 100).acknowledged, 3000u);
  broker.restart();  // graceful: the queue is saved and restored
  iotd->start();
  ASSERT_TRUE(eventually(connected, 30s)) << iotd->log();
  broker.restart();  // and once more while iotd is connected: it reconnects by itself
  ASSERT_TRUE(eventually(connected, 60s)) << iotd->log();
  ASSERT_EQ(publish_all(broker.url(), "restart-pub-b", numbered(3000, 1000), 1, 100).acknowledged, 1000u);
  ASSERT_TRUE(eventually([&] { return db_count(iotd->database_url(), "SELECT COUNT(*) FROM messages") >= 4000; },
                         60s))
      << iotd->log();
  std::this_thread::sleep_for(500ms);  // a duplicate would land now
  auto values = db_metric_values(iotd->database_url(), "n");
  std::set<long long> unique;
  for (double v : values) unique.insert(static_cast<long long>(v));
  EXPECT_EQ(values.size(), 4000u) << "rows (duplicates if more)";
  EXPECT_EQ(unique.size(), 4000u) << "distinct (lost if fewer)";
}

}  // namespace
}  // namespace iotd::test
