// The benchmark tools (bench/: iotd-bench-http, -startup, -wait) against the real iotd:
// their reports are consistent and they end (errors counted, children reaped) instead of
// hanging. No timing assertions: these machines are shared.
#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <string>
#include <vector>

#include "iotd/core/time.hpp"
#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

#ifdef IOTD_BENCH_DIR
constexpr const char* kBenchDir = IOTD_BENCH_DIR;
#else
constexpr const char* kBenchDir = nullptr;
#endif

struct ToolRun {
  int exit_code = -1;
  std::string output;  // stdout and stderr
  json report;         // the last line that is a JSON object (the --json report)
};

// Runs bench/<tool> to completion with `args`; a tool still running after `timeout` is
// killed and fails the test (the tools must never hang).
ToolRun run_tool(const TempDir& dir, const std::string& tool, std::vector<std::string> args,
                 std::map<std::string, std::optional<std::string>> env = {},
                 std::chrono::milliseconds timeout = 60s) {
  static int n = 0;
  ProcessOptions po;
  po.env = std::move(env);
  po.log_file = dir / (tool + "-" + std::to_string(++n) + ".log");
  args.insert(args.begin(), std::string(kBenchDir) + "/" + tool);
  ToolRun r;
  r.exit_code = Process::exit_code(run_process(args, po, timeout));
  std::ifstream in(po.log_file);
  for (std::string line; std::getline(in, line);) {
    r.output += line + "\n";
    if (!line.empty() && line.front() == '{') r.report = json::parse(line, nullptr, false);
  }
  return r;
}

std::string url(std::uint16_t port, const std::string& target) {
  return "http://127.0.0.1:" + std::to_string(port) + target;
}

class BenchTools : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kBenchDir) GTEST_SKIP() << "built without the bench tools (IOTD_BUILD_BENCH=OFF)";
  }
  TempDir dir;
};

class BenchToolsOnIotd : public BenchTools {
 protected:
  void SetUp() override {
    BenchTools::SetUp();
    if (IsSkipped()) return;
    iotd = std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", "", {}});
  }
  std::unique_ptr<IotdProcess> iotd;
};

void expect_counts_add_up(const json& r) {
  EXPECT_EQ(r["completed"].get<long>() + r["socket_errors"].get<long>() + r["timeouts"].get<long>(),
            r["scheduled"].get<long>())
      << r.dump();
  long by_status = 0;
  for (const auto& [code, count] : r["statuses"].items()) by_status += count.get<long>();
  EXPECT_EQ(by_status, r["completed"].get<long>()) << r.dump();
}

TEST_F(BenchToolsOnIotd, OpenLoopClientCompletesEveryScheduledRequest) {
  auto run = run_tool(dir, "iotd-bench-http",
                      {"--url", url(iotd->port(), "/api/v1/health/live"), "--rate", "200", "--duration", "1",
                       "--connections", "4", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const json& r = run.report;
  ASSERT_TRUE(r.is_object()) << run.output;
  EXPECT_EQ(r["mode"], "open");
  EXPECT_EQ(r["scheduled"], 200);
  EXPECT_EQ(r["completed"], 200);
  EXPECT_EQ(r["non_2xx"], 0);
  EXPECT_EQ(r["socket_errors"], 0);
  EXPECT_EQ(r["timeouts"], 0);
  EXPECT_EQ(r["statuses"], json({{"200", 200}}));
  EXPECT_EQ(r["mean_body_bytes"], std::string(R"({"status":"alive"})").size());
  expect_counts_add_up(r);
  const json& l = r["latency_ms"];
  EXPECT_GT(l["p50"].get<double>(), 0);
  EXPECT_LE(l["min"].get<double>(), l["p50"].get<double>());
  EXPECT_LE(l["p50"].get<double>(), l["p90"].get<double>());
  EXPECT_LE(l["p90"].get<double>(), l["p99"].get<double>());
  EXPECT_LE(l["p99"].get<double>(), l["p99_9"].get<double>());
  EXPECT_LE(l["p99_9"].get<double>(), l["max"].get<double>());
}

TEST_F(BenchToolsOnIotd, WarmupIsRunButNotRecorded) {
  auto run = run_tool(dir, "iotd-bench-http",
                      {"--url", url(iotd->port(), "/api/v1/health/live"), "--rate", "100", "--warmup", "0.5",
                       "--duration", "0.5", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.report["scheduled"], 50) << run.output;
  EXPECT_EQ(run.report["completed"], 50);
  EXPECT_EQ(iotd->get("/api/v1/health").json()["counters"]["http_requests"].get<long>() >= 100, true);
}

TEST_F(BenchToolsOnIotd, PathsFileTargetsAreUsedRoundRobin) {
  const auto paths = dir / "paths.txt";
  std::ofstream(paths) << "# one of each\n/api/v1/health/live\n\n/api/v1/readings/latest?device_id=nobody\n";
  auto run = run_tool(dir, "iotd-bench-http",
                      {"--url", url(iotd->port(), "/ignored"), "--paths-file", paths.string(), "--rate", "100",
                       "--duration", "1", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const json& r = run.report;
  EXPECT_EQ(r["targets"], 2);
  EXPECT_EQ(r["completed"], 100);
  EXPECT_EQ(r["non_2xx"], 50) << "every second request asks for an unknown device: " << r.dump();
  EXPECT_EQ(r["statuses"], json({{"200", 50}, {"404", 50}}));
  expect_counts_add_up(r);
}

TEST_F(BenchTools, OpenLoopClientCountsSocketErrorsOnAClosedPort) {
  auto run = run_tool(dir, "iotd-bench-http",
                      {"--url", url(free_tcp_port(), "/api/v1/health/live"), "--rate", "200", "--duration", "1",
                       "--timeout-ms", "500", "--json"},
                      {}, 30s);
  EXPECT_EQ(run.exit_code, 1) << run.output;
  const json& r = run.report;
  ASSERT_TRUE(r.is_object()) << run.output;
  EXPECT_EQ(r["scheduled"], 200);
  EXPECT_EQ(r["completed"], 0);
  EXPECT_EQ(r["socket_errors"], 200) << r.dump();
  EXPECT_NE(r["first_error"].get<std::string>().find("refused"), std::string::npos) << r.dump();
  expect_counts_add_up(r);
}

TEST_F(BenchTools, OpenLoopClientRejectsBadArguments) {
  EXPECT_EQ(run_tool(dir, "iotd-bench-http", {"--rate", "10"}).exit_code, 2);
  EXPECT_EQ(run_tool(dir, "iotd-bench-http", {"--url", "https://x/"}).exit_code, 2);
  EXPECT_EQ(run_tool(dir, "iotd-bench-http", {"--url", "http://x/", "--rate", "-1"}).exit_code, 2);
}

TEST_F(BenchTools, StartupReportsEveryRunAndLeavesNoChild) {
  const auto port = free_tcp_port();
  std::map<std::string, std::optional<std::string>> env{
      {"IOTD_HTTP_LISTEN", "127.0.0.1:" + std::to_string(port)},
      {"IOTD_DATABASE_URL", sqlite_url(dir / "startup.db")},
      {"IOTD_JOURNAL_DIR", (dir / "journal").string()},
      {"IOTD_MQTT_URL", ""},
      {"IOTD_IO_THREADS", "2"}};
  auto run = run_tool(dir, "iotd-bench-startup",
                      {"--runs", "5", "--url", url(port, "/api/v1/health/live"), "--json", "--", IOTD_BINARY}, env,
                      120s);
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const json& r = run.report;
  ASSERT_EQ(r["runs_completed"], 5) << run.output;
  ASSERT_EQ(r["runs"].size(), 5u);
  for (const auto& one : r["runs"]) {
    EXPECT_GT(one["ready_ms"].get<double>(), 0);
    EXPECT_GE(one["polls"].get<int>(), 1);
    // SIGTERM just after ready is a clean shutdown, never death by the signal (a thread
    // started before the signals were blocked once let SIGTERM kill the process).
    EXPECT_EQ(one["exit"].get<std::string>(), "exit 0") << run.output;
    const auto pid = one["pid"].get<pid_t>();
    ASSERT_GT(pid, 0);
    EXPECT_EQ(::kill(pid, 0), -1) << "child " << pid << " still exists";
    EXPECT_EQ(errno, ESRCH);
  }
  std::vector<double> ready;
  for (const auto& one : r["runs"]) ready.push_back(one["ready_ms"].get<double>());
  std::sort(ready.begin(), ready.end());
  EXPECT_NEAR(r["median_ready_ms"].get<double>(), ready[2], 0.002);
  EXPECT_FALSE(wait_for_tcp(port, Clock::now())) << "nothing listens after the runs";
}

TEST_F(BenchTools, StartupFailsClearlyWhenTheCommandExitsBeforeReady) {
  auto run = run_tool(dir, "iotd-bench-startup",
                      {"--runs", "3", "--url", url(free_tcp_port(), "/"), "--", "sh", "-c", "echo no config; exit 3"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("ended before it was ready: exit 3"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("no config"), std::string::npos) << "shows the command's output: " << run.output;
  EXPECT_NE(run.output.find("runs_completed: 0"), std::string::npos) << run.output;

  auto missing = run_tool(dir, "iotd-bench-startup", {"--", "/nonexistent/iotd"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("cannot exec /nonexistent/iotd"), std::string::npos) << missing.output;
}

TEST_F(BenchToolsOnIotd, WaitForZeroStoredReturnsAtOnce) {
  auto run = run_tool(dir, "iotd-bench-wait",
                      {"--url", url(iotd->port(), "/api/v1/health"), "--stored", "0", "--timeout", "30", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.report["reached"], true);
  EXPECT_EQ(run.report["stored"], 0);
  EXPECT_EQ(run.report["polls"], 1);
  EXPECT_TRUE(run.report["last_commit_at_us"].is_null());
  EXPECT_EQ(run.report["journal_backlog"], 0);
}

TEST_F(BenchToolsOnIotd, WaitTimesOutOnAnIdleIotdWithTheLastValues) {
  auto run = run_tool(dir, "iotd-bench-wait",
                      {"--url", url(iotd->port(), "/api/v1/health"), "--stored", "10", "--timeout", "1", "--json"});
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_EQ(run.report["reached"], false);
  EXPECT_EQ(run.report["stored"], 0);
  EXPECT_GT(run.report["polls"].get<int>(), 1);
  EXPECT_NE(run.output.find("timed out"), std::string::npos) << run.output;
}

TEST_F(BenchTools, WaitTimesOutWhenNothingListens) {
  auto run = run_tool(dir, "iotd-bench-wait",
                      {"--url", url(free_tcp_port(), "/api/v1/health"), "--stored", "0", "--timeout", "0.2", "--json"});
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_TRUE(run.report["stored"].is_null());
  EXPECT_NE(run.report["last_error"].get<std::string>().find("refused"), std::string::npos) << run.output;
}

TEST_F(BenchTools, WaitReportsTheLastCommitTimeOfPublishedMessages) {
  MosquittoServer broker;
  IotdProcess iotd(IotdProcess::Options{dir / "iotd", broker.url(), {}});
  ASSERT_TRUE(eventually([&] { return iotd.get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s));
  const auto before_ms = ::iotd::time::now_ms();
  std::vector<OutMessage> msgs;
  for (int i = 0; i < 5; ++i) msgs.push_back({"sensors/wait" + std::to_string(i) + "/data", R"({"temperature": 20})"});
  ASSERT_EQ(publish_all(broker.url(), "bench-wait-pub", msgs, 1).acknowledged, msgs.size());

  auto run = run_tool(dir, "iotd-bench-wait",
                      {"--url", url(iotd.port(), "/api/v1/health"), "--stored", "3", "--baseline", "2",
                       "--timeout", "20", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const json& r = run.report;
  EXPECT_GE(r["stored"].get<long>(), 5);
  EXPECT_EQ(r["stored_since_baseline"].get<long>(), r["stored"].get<long>() - 2);
  const auto commit_us = r["last_commit_at_us"].get<long long>();
  EXPECT_EQ(commit_us % 1000, 0) << "iotd serves milliseconds";
  EXPECT_GE(commit_us / 1000, before_ms - 1000) << r.dump();
  EXPECT_LE(commit_us / 1000, ::iotd::time::now_ms() + 1000) << r.dump();
  const auto served = iotd.get("/api/v1/health").json()["counters"]["last_commit_at"].get<std::string>();
  EXPECT_EQ(r["last_commit_at"], served);
}

}  // namespace
}  // namespace iotd::test
