// Tests of the test support itself: Process, free ports, find_program, MosquittoServer
// (the shipped docker/mosquitto.conf: persistence across restarts, queues beyond 1000).
#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include <cerrno>
#include <csignal>
#include <fstream>
#include <set>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "support/process.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;

bool pid_gone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

TEST(FreeTcpPort, ReturnsDistinctBindablePorts) {
  std::set<std::uint16_t> ports;
  for (int i = 0; i < 5; ++i) ports.insert(free_tcp_port());
  EXPECT_GE(ports.size(), 4u);  // the kernel may, rarely, hand out one twice
  for (auto p : ports) EXPECT_GT(p, 0);
  EXPECT_FALSE(wait_for_tcp(*ports.begin(), Clock::now()));
}

TEST(FindProgram, FindsShAndReportsMissingPrograms) {
  const auto sh = find_program("sh");
  ASSERT_TRUE(sh.has_value());
  EXPECT_TRUE(sh->is_absolute());
  if (under_ci()) {
    EXPECT_THROW(find_program("iotd-no-such-program"), std::runtime_error);
  } else {
    EXPECT_FALSE(find_program("iotd-no-such-program").has_value());
  }
}

TEST(Process, CapturesOutputExitCodeEnvironmentAndDirectory) {
  TempDir dir;
  std::filesystem::create_directories(dir / "work");
  ::setenv("IOTD_SUPPORT_TEST_UNSET_ME", "visible", 1);
  Process p({"sh", "-c", "echo out=$FOO; echo err=${IOTD_SUPPORT_TEST_UNSET_ME:-unset} >&2; pwd; exit 3"},
            {.env = {{"FOO", "bar"}, {"IOTD_SUPPORT_TEST_UNSET_ME", std::nullopt}},
             .cwd = dir / "work",
             .log_file = dir / "p.log"});
  const auto status = p.wait_exit(10s);
  ::unsetenv("IOTD_SUPPORT_TEST_UNSET_ME");
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(Process::exit_code(*status), 3) << Process::describe(*status);
  EXPECT_FALSE(p.running());
  const std::string log = p.read_log();
  EXPECT_NE(log.find("out=bar\n"), std::string::npos) << log;
  EXPECT_NE(log.find("err=unset\n"), std::string::npos) << log;
  EXPECT_NE(log.find((dir / "work").string()), std::string::npos) << log;
  // Once reaped, the status stays available.
  EXPECT_EQ(p.wait_exit(0ms), status);
}

TEST(Process, KillReapsTheChild) {
  Process p({"sleep", "60"});
  const pid_t pid = p.pid();
  EXPECT_TRUE(p.running());
  EXPECT_FALSE(p.wait_exit(50ms).has_value());
  p.kill(SIGKILL);
  const auto status = p.wait_exit(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(Process::exit_code(*status), 128 + SIGKILL);
  EXPECT_TRUE(pid_gone(pid));  // reaped, not a zombie
}

TEST(Process, StopEscalatesToSigkillWhenSigtermIsIgnored) {
  TempDir dir;
  // The shell ignores TERM, then execs sleep, which keeps ignoring it.
  Process p({"sh", "-c", "trap '' TERM; echo ready; exec sleep 60"}, {.log_file = dir / "p.log"});
  const auto deadline = Clock::now() + 10s;
  while (p.read_log().find("ready") == std::string::npos && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  const auto start = Clock::now();
  const int status = p.stop(300ms);
  EXPECT_EQ(Process::exit_code(status), 128 + SIGKILL) << Process::describe(status);
  EXPECT_GE(Clock::now() - start, 300ms);
  EXPECT_TRUE(pid_gone(p.pid()));
}

TEST(Process, DestructorStopsAndReaps) {
  pid_t pid = -1;
  {
    Process p({"sleep", "60"});
    pid = p.pid();
    ASSERT_GT(pid, 0);
  }
  EXPECT_TRUE(pid_gone(pid));
}

TEST(Process, ChildInheritsNoDescriptorsBeyondStdio) {
  TempDir dir;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);  // deliberately without O_CLOEXEC
  const std::string probe = "test -e /proc/self/fd/" + std::to_string(fds[0]) +
                            " && echo leaked || echo clean";
  Process p({"sh", "-c", probe}, {.log_file = dir / "p.log"});
  const auto status = p.wait_exit(10s);
  ::close(fds[0]);
  ::close(fds[1]);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(p.read_log(), "clean\n");
}

TEST(Process, ThrowsForMissingProgramOrDirectory) {
  EXPECT_THROW(Process({"iotd-no-such-program"}), std::runtime_error);
  EXPECT_THROW(Process({"/nonexistent/bin/x"}), std::runtime_error);
  EXPECT_THROW(Process({"true"}, {.cwd = "/nonexistent-dir-for-iotd-test"}), std::runtime_error);
}

TEST(RunProcess, ReturnsStatusAndTimesOut) {
  EXPECT_EQ(Process::exit_code(run_process({"true"}, {}, 10s)), 0);
  EXPECT_EQ(Process::exit_code(run_process({"false"}, {}, 10s)), 1);
  EXPECT_THROW(run_process({"sleep", "60"}, {}, 100ms), std::runtime_error);
}

// ---- mosquitto ---------------------------------------------------------------------

mqtt::connect_options connect_opts(bool clean_session) {
  return mqtt::connect_options_builder()
      .clean_session(clean_session)
      .connect_timeout(5s)
      .finalize();
}

TEST(MosquittoConfig, RewritesListenerAndPersistenceOnly) {
  const std::string conf = mosquitto_config(12345, "/tmp/x", {"max_keepalive 60"});
  EXPECT_NE(conf.find("\nlistener 12345 127.0.0.1\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\npersistence_location /tmp/x/\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\npersistence true\n"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\nmax_queued_messages 1000000\n"), std::string::npos) << conf;
  EXPECT_EQ(conf.find("/mosquitto/data"), std::string::npos) << conf;
  EXPECT_NE(conf.find("\nmax_keepalive 60\n"), std::string::npos) << conf;
}

TEST(MosquittoServer, DeliversPublishedMessages) {
  IOTD_REQUIRE_PROGRAM(mosquitto, "mosquitto");
  MosquittoServer broker;
  ASSERT_TRUE(broker.running());

  mqtt::async_client sub(broker.url(), "support-test-sub");
  sub.start_consuming();
  sub.connect(connect_opts(true))->wait();
  sub.subscribe("sensors/+/data", 1)->wait();

  mqtt::async_client pub(broker.url(), "support-test-pub");
  pub.connect(connect_opts(true))->wait();
  pub.publish("sensors/dev-1/data", std::string(R"({"temperature":21.5})"), 1, false)->wait();

  const auto msg = sub.try_consume_message_for(10s);
  ASSERT_TRUE(msg) << broker.read_log();
  EXPECT_EQ(msg->get_topic(), "sensors/dev-1/data");
  EXPECT_EQ(msg->to_string(), R"({"temperature":21.5})");
  pub.disconnect()->wait();
  sub.disconnect()->wait();
}

TEST(MosquittoServer, RetainedMessageSurvivesRestart) {
  IOTD_REQUIRE_PROGRAM(mosquitto, "mosquitto");
  MosquittoServer broker;
  {
    mqtt::async_client pub(broker.url(), "support-test-retain-pub");
    pub.connect(connect_opts(true))->wait();
    pub.publish("control/dev-1/command", std::string("keep me"), 1, true)->wait();
    pub.disconnect()->wait();
  }
  const pid_t old_pid = broker.pid();
  broker.restart();
  EXPECT_NE(broker.pid(), old_pid);

  mqtt::async_client sub(broker.url(), "support-test-retain-sub");
  sub.start_consuming();
  sub.connect(connect_opts(true))->wait();
  sub.subscribe("control/+/command", 1)->wait();
  const auto msg = sub.try_consume_message_for(10s);
  ASSERT_TRUE(msg) << broker.read_log();
  EXPECT_EQ(msg->to_string(), "keep me");
  EXPECT_TRUE(msg->is_retained());
  sub.disconnect()->wait();
}

// What iotd relies on (docs/architecture.md §4, §9; docs/operations.md): the broker holds QoS 1
// messages for an offline persistent session beyond mosquitto's default of 1000, across a
// broker restart.
TEST(MosquittoServer, QueuesMoreThan1000MessagesForOfflineSessionAcrossRestart) {
  IOTD_REQUIRE_PROGRAM(mosquitto, "mosquitto");
  MosquittoServer broker;
  const std::string client_id = "support-test-persistent";
  {
    mqtt::async_client sub(broker.url(), client_id);
    sub.connect(connect_opts(false))->wait();
    sub.subscribe("sensors/+/data", 1)->wait();
    sub.disconnect()->wait();
  }
  constexpr int kCount = 1500;
  {
    mqtt::async_client pub(broker.url(), "support-test-bulk-pub");
    pub.connect(connect_opts(true))->wait();
    // Windows of 50: Paho refuses more than 100 unfinished publishes by default.
    std::vector<mqtt::delivery_token_ptr> window;
    for (int i = 0; i < kCount; ++i) {
      window.push_back(pub.publish("sensors/dev-2/data", std::to_string(i), 1, false));
      if (window.size() == 50 || i + 1 == kCount) {
        for (auto& t : window) t->wait();
        window.clear();
      }
    }
    pub.disconnect()->wait();
  }
  broker.restart();

  mqtt::async_client sub(broker.url(), client_id);
  sub.start_consuming();
  const auto tok = sub.connect(connect_opts(false));
  tok->wait();
  EXPECT_TRUE(tok->get_connect_response().is_session_present());
  std::set<std::string> got;
  while (got.size() < kCount) {
    const auto msg = sub.try_consume_message_for(10s);
    if (!msg) break;
    got.insert(msg->to_string());
  }
  EXPECT_EQ(got.size(), static_cast<std::size_t>(kCount)) << broker.read_log();
  sub.disconnect()->wait();
}

TEST(MosquittoServer, DestructorStopsTheBroker) {
  IOTD_REQUIRE_PROGRAM(mosquitto, "mosquitto");
  pid_t pid = -1;
  std::uint16_t port = 0;
  {
    MosquittoServer broker;
    pid = broker.pid();
    port = broker.port();
    EXPECT_TRUE(wait_for_tcp(port, Clock::now() + 1s));
  }
  EXPECT_TRUE(pid_gone(pid));
  EXPECT_FALSE(wait_for_tcp(port, Clock::now()));
}

}  // namespace
}  // namespace iotd::test
