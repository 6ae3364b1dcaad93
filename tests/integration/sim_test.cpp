// The real iotd-sim binaries against a real mosquitto: `iotd-sim sink` counts what
// `iotd-sim` publishes, and both JSON reports agree with each other.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/iotd_process.hpp"
#include "support/process.hpp"
#include "support/services.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// The report: the one line of a log (stdout and stderr together) that is a JSON object.
json report_in(const std::string& log) {
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.front() == '{') return json::parse(line);
  }
  ADD_FAILURE() << "no JSON report in:\n" << log;
  return json::object();
}

struct SimRun {
  int publisher_exit = -1;
  int sink_exit = -1;
  json publisher;
  json sink;
};

class Simulator : public ::testing::Test {
 protected:
  MosquittoServer broker;
  TempDir dir;

  // Starts the sink, waits for its "ready" (printed after the SUBACK), runs the publisher
  // for `count` messages, then waits for the sink to count them.
  SimRun publish_into_sink(int qos, std::uint64_t count, const std::vector<std::string>& extra) {
    SimRun run;
    Process sink({IOTD_SIM_BINARY, "sink", "--url", broker.url(), "--topic", "sensors/+/data",
                  "--qos", std::to_string(qos), "--count", std::to_string(count), "--timeout",
                  "60", "--json"},
                 {.env = {}, .cwd = {}, .log_file = dir / "sink.log"});
    const bool ready =
        eventually([&] { return sink.read_log().find("ready\n") != std::string::npos; }, 15s);
    EXPECT_TRUE(ready) << sink.read_log();
    if (!ready) return run;

    std::vector<std::string> argv{IOTD_SIM_BINARY,     "--url",      broker.url(), "--qos",
                                  std::to_string(qos), "--messages", std::to_string(count),
                                  "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    run.publisher_exit = Process::exit_code(
        run_process(argv, {.env = {}, .cwd = {}, .log_file = dir / "pub.log"}, 60s));
    const auto sink_status = sink.wait_exit(30s);
    EXPECT_TRUE(sink_status) << "sink still running:\n" << sink.read_log();
    if (sink_status) run.sink_exit = Process::exit_code(*sink_status);
    run.publisher = report_in(slurp(dir / "pub.log"));
    run.sink = report_in(sink.read_log());
    return run;
  }
};

TEST_F(Simulator, Qos1MessagesFromFiftyDevicesArriveExactlyAndReportsAgree) {
  const SimRun r = publish_into_sink(1, 2000, {"--devices", "50", "--connections", "2"});
  EXPECT_EQ(r.publisher_exit, 0) << slurp(dir / "pub.log");
  EXPECT_EQ(r.sink_exit, 0) << slurp(dir / "sink.log");

  EXPECT_EQ(r.publisher["published"], 2000) << r.publisher;
  EXPECT_EQ(r.publisher["acknowledged"], 2000) << r.publisher;
  EXPECT_EQ(r.publisher["errors"], 0) << r.publisher;
  EXPECT_EQ(r.publisher["unacknowledged"], 0) << r.publisher;
  EXPECT_EQ(r.publisher["devices"], 50);
  EXPECT_EQ(r.publisher["qos"], 1);
  EXPECT_EQ(r.sink["received"], 2000) << r.sink;
  EXPECT_EQ(r.sink["complete"], true);
  EXPECT_EQ(r.sink["received"], r.publisher["acknowledged"]);
  // Causality, not timing: nothing arrives before the first publish, and both reports
  // carry real spans and rates.
  EXPECT_GE(r.sink["first_receive_us"].get<std::int64_t>(),
            r.publisher["first_publish_us"].get<std::int64_t>());
  EXPECT_GE(r.sink["last_receive_us"], r.sink["first_receive_us"]);
  EXPECT_GT(r.publisher["last_ack_us"], r.publisher["first_publish_us"]);
  EXPECT_GT(r.publisher["rate"].get<double>(), 0);
  EXPECT_GT(r.sink["rate"].get<double>(), 0);
}

TEST_F(Simulator, Qos0RateLimitedMessagesArriveExactly) {
  const SimRun r = publish_into_sink(0, 2000, {"--devices", "50", "--rate", "2000"});
  EXPECT_EQ(r.publisher_exit, 0) << slurp(dir / "pub.log");
  EXPECT_EQ(r.sink_exit, 0) << slurp(dir / "sink.log");
  EXPECT_EQ(r.publisher["published"], 2000) << r.publisher;
  EXPECT_EQ(r.publisher["acknowledged"], 2000) << r.publisher;  // written to the socket
  EXPECT_EQ(r.publisher["errors"], 0);
  EXPECT_EQ(r.publisher["target_rate"], 2000.0);
  EXPECT_EQ(r.sink["received"], 2000) << r.sink;
  EXPECT_EQ(r.sink["received"], r.publisher["acknowledged"]);
}

TEST_F(Simulator, PahoEngineQos1MessagesArriveExactly) {
  const SimRun r = publish_into_sink(1, 500, {"--devices", "10", "--engine", "paho"});
  EXPECT_EQ(r.publisher_exit, 0) << slurp(dir / "pub.log");
  EXPECT_EQ(r.publisher["acknowledged"], 500) << r.publisher;
  EXPECT_EQ(r.sink["received"], 500) << r.sink;
}

TEST(SimulatorCli, BadFlagExitsTwoWithTheReason) {
  TempDir dir;
  const int status =
      run_process({IOTD_SIM_BINARY, "--qos", "2"}, {.env = {}, .cwd = {}, .log_file = dir / "log"}, 10s);
  EXPECT_EQ(Process::exit_code(status), 2);
  EXPECT_NE(slurp(dir / "log").find("--qos must be 0 or 1"), std::string::npos) << slurp(dir / "log");

  EXPECT_EQ(Process::exit_code(run_process({IOTD_SIM_BINARY, "--help"},
                                           {.env = {}, .cwd = {}, .log_file = dir / "help"}, 10s)),
            0);
  EXPECT_NE(slurp(dir / "help").find("iotd-sim sink"), std::string::npos);
}

TEST(SimulatorCli, UnreachableBrokerExitsOne) {
  TempDir dir;
  const std::string url = "tcp://127.0.0.1:" + std::to_string(free_tcp_port());
  const int status = run_process({IOTD_SIM_BINARY, "--url", url, "--messages", "1"},
                                 {.env = {}, .cwd = {}, .log_file = dir / "log"}, 30s);
  EXPECT_EQ(Process::exit_code(status), 1) << slurp(dir / "log");
  EXPECT_NE(slurp(dir / "log").find("cannot connect to " + url), std::string::npos)
      << slurp(dir / "log");
}

}  // namespace
}  // namespace iotd::test
