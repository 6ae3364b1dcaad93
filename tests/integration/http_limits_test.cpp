// HTTP hardening (issue 12) through the real binary: limits answered with the JSON error
// body, read and idle timeouts, the connection cap's 503, 1,000 slowloris connections
// beside a normal client, write rate limiting per key and per address. MQTT is off.
// Latency bounds here are generous (a shared 2-core machine); figures come from
// bench/ (`iotd-bench-conns`, BENCHMARKS.md).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/iotd_process.hpp"
#include "support/temp_dir.hpp"
#include "support/ws_client.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::map<std::string, std::string> kAdmin{{"X-API-Key", kTestAdminKey},
                                                 {"Content-Type", "application/json"}};

// A plain TCP connection to 127.0.0.1:port, for clients that misbehave on purpose.
int open_raw(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Raises this process's open-files soft limit to the hard one (iotd, started after,
// inherits it); returns the limit now.
rlim_t raise_fd_limit() {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);
  ::getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// Latencies (ms) of `n` GETs of `target`, each on a new connection (so accepting is
// measured too), and `n` on one keep-alive connection.
struct Latencies {
  std::vector<double> fresh, kept;
};
Latencies measure(std::uint16_t port, const std::string& target, int n) {
  Latencies out;
  auto time_one = [&](HttpClient& c) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = c.get(target);
    EXPECT_EQ(r.status, 200) << r.body;
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int i = 0; i < n; ++i) {
    HttpClient c("127.0.0.1", port, 10s);
    out.fresh.push_back(time_one(c));
  }
  HttpClient kept("127.0.0.1", port, 10s);
  for (int i = 0; i < n; ++i) out.kept.push_back(time_one(kept));
  return out;
}

std::string header_of(const HttpReply& r, const std::string& lower_name) {
  auto it = r.headers.find(lower_name);
  return it == r.headers.end() ? std::string() : it->second;
}

// The value of an unlabelled sample in Prometheus text, or -1.
double metric(const std::string& text, const std::string& name) {
  auto pos = text.find("\n" + name + " ");
  if (pos == std::string::npos) return -1;
  return std::stod(text.substr(pos + name.size() + 2));
}

class HttpLimits : public ::testing::Test {
 protected:
  TempDir dir;
  std::unique_ptr<IotdProcess> iotd;

  void start_iotd(std::map<std::string, std::string> env) {
    iotd = std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", "", std::move(env)});
  }
};

TEST_F(HttpLimits, OversizedBodyIs413AndOversizedHeadIs431WithTheJsonError) {
  start_iotd({{"IOTD_HTTP_BODY_LIMIT", "1KiB"}, {"IOTD_HTTP_HEADER_LIMIT", "1KiB"}});
  auto big = iotd->post("/api/v1/ingest", std::string(8192, ' '), kAdmin);
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.json()["error"]["code"], "payload_too_large") << big.body;
  auto head = iotd->get("/api/v1/health/live", {{"X-Padding", std::string(4096, 'p')}});
  EXPECT_EQ(head.status, 431);
  EXPECT_EQ(head.json()["error"]["code"], "request_header_fields_too_large") << head.body;
  EXPECT_EQ(iotd->get("/api/v1/health/live").status, 200) << "still serving";
}

TEST_F(HttpLimits, HalfARequestHeadIsClosedAfterTheReadTimeoutEvenWhileBytesTrickleIn) {
  start_iotd({{"IOTD_HTTP_READ_TIMEOUT", "1s"}, {"IOTD_HTTP_IDLE_TIMEOUT", "30s"}});
  HttpClient c("127.0.0.1", iotd->port(), 10s);
  c.connect();
  const auto t0 = std::chrono::steady_clock::now();
  c.send_raw("GET /api/v1/health/live HTTP/1.1\r\nHost: x\r\n");
  bool closed = false;
  // One more header byte every 200 ms: the deadline is for the whole head, not per byte.
  while (!closed && std::chrono::steady_clock::now() - t0 < 6s) {
    try {
      c.send_raw("X");
    } catch (const std::exception&) {
      closed = true;
      break;
    }
    closed = c.wait_closed(200ms);
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(closed) << "a request head trickling in for 6 s is still open";
  EXPECT_GE(took, 800ms);
  EXPECT_LT(took, 4s);
}

TEST_F(HttpLimits, ASilentConnectionIsClosedAfterTheIdleTimeout) {
  start_iotd({{"IOTD_HTTP_READ_TIMEOUT", "30s"}, {"IOTD_HTTP_IDLE_TIMEOUT", "1s"}});
  HttpClient c("127.0.0.1", iotd->port(), 10s);
  c.connect();  // and says nothing
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.wait_closed(6s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
  // A keep-alive connection between requests: the same.
  HttpClient k("127.0.0.1", iotd->port(), 10s);
  EXPECT_EQ(k.get("/api/v1/health/live").status, 200);
  EXPECT_TRUE(k.wait_closed(6s));
}

TEST_F(HttpLimits, ConnectionsOverTheCapGet503WithRetryAfterAndAreCounted) {
  start_iotd({{"IOTD_HTTP_MAX_CONNECTIONS", "4"}});
  std::vector<std::unique_ptr<HttpClient>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<HttpClient>("127.0.0.1", iotd->port(), 10s));
    ASSERT_EQ(held.back()->get("/api/v1/health/live").status, 200) << i;
  }
  for (int i = 0; i < 3; ++i) {
    HttpClient extra("127.0.0.1", iotd->port(), 10s);
    auto r = extra.get("/api/v1/devices");
    EXPECT_EQ(r.status, 503) << r.body;
    EXPECT_EQ(r.header("retry-after").value_or(""), "1");
    EXPECT_EQ(r.header("connection").value_or(""), "close");
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "too_many_connections") << r.body;
    EXPECT_TRUE(extra.wait_closed(3s));
  }
  held.pop_back();
  held.pop_back();
  std::string text;
  int refused = 3;  // and any scrape that came before the server saw the two closes
  ASSERT_TRUE(eventually(
      [&] {
        auto m = iotd->get("/metrics");
        text = m.body;
        refused += m.status == 503;
        // A scrape can be let in once one close is seen, before the other: the gauge then
        // still counts that connection. Scrape again until both closes are in.
        return m.status == 200 && metric(text, "iotd_http_connections") == 3;
      },
      5s))
      << "the gauge never came down to two held and the scrape's own:\n" << text;
  EXPECT_EQ(metric(text, "iotd_http_connections_refused_total"), refused) << text;
}

TEST_F(HttpLimits, ThousandSlowlorisConnectionsDoNotStarveANormalClient) {
  ASSERT_GE(raise_fd_limit(), 1200u) << "1,000 connections need a higher open-files hard limit (ulimit -Hn)";
  start_iotd({{"IOTD_HTTP_READ_TIMEOUT", "8s"}, {"IOTD_HTTP_IDLE_TIMEOUT", "8s"}});
  const auto port = iotd->port();
  measure(port, "/api/v1/devices", 20);  // warm-up: pool sessions, caches
  const Latencies before = measure(port, "/api/v1/devices", 200);

  constexpr int kSlow = 1000;
  std::vector<int> slow;
  for (int i = 0; i < kSlow; ++i) {
    int fd = open_raw(port);
    ASSERT_GE(fd, 0) << "connection " << i << ": " << std::strerror(errno);
    slow.push_back(fd);
    const std::string start = "GET /api/v1/devices HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    ::send(fd, start.data(), start.size(), MSG_NOSIGNAL);
  }
  std::atomic<bool> stop{false};
  std::jthread trickle([&] {
    while (!stop) {  // one byte per connection every 100 ms
      for (int fd : slow) ::send(fd, "a", 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(100ms);
    }
  });
  const Latencies during = measure(port, "/api/v1/devices", 200);
  stop = true;
  trickle.join();

  const double p50_before = percentile(before.fresh, 0.5), p99_before = percentile(before.fresh, 0.99);
  const double p50_during = percentile(during.fresh, 0.5), p99_during = percentile(during.fresh, 0.99);
  std::printf("GET /api/v1/devices, new connection each: p50 %.2f ms, p99 %.2f ms without slow clients; "
              "p50 %.2f ms, p99 %.2f ms with %d slowloris connections\n",
              p50_before, p99_before, p50_during, p99_during, kSlow);
  std::printf("keep-alive: p50 %.2f ms, p99 %.2f ms without; p50 %.2f ms, p99 %.2f ms with\n",
              percentile(before.kept, 0.5), percentile(before.kept, 0.99), percentile(during.kept, 0.5),
              percentile(during.kept, 0.99));
  EXPECT_LT(p99_during, 500.0) << "a normal client waited too long beside slow ones";
  EXPECT_LT(percentile(during.kept, 0.99), 500.0);

  // The slow connections are the server's to close: all gone after the read timeout.
  auto closed_by_server = [&] {
    int open = 0;
    for (int fd : slow) {
      char b;
      auto n = ::recv(fd, &b, 1, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++open;
    }
    return open == 0;
  };
  EXPECT_TRUE(eventually(closed_by_server, 20s)) << "slow connections outlived the read timeout";
  for (int fd : slow) ::close(fd);
}

TEST_F(HttpLimits, StartUpRaisesTheOpenFilesLimitToTheHardLimitAndSaysSo) {
  rlimit saved{};
  ::getrlimit(RLIMIT_NOFILE, &saved);
  if (saved.rlim_max == RLIM_INFINITY || saved.rlim_max <= 512) GTEST_FAIL() << "needs a finite hard limit above 512";
  rlimit low = saved;
  low.rlim_cur = 512;  // iotd inherits the low soft limit
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  start_iotd({});
  ::setrlimit(RLIMIT_NOFILE, &saved);
  EXPECT_NE(iotd->log().find("raised from 512 to " + std::to_string(saved.rlim_max)), std::string::npos)
      << iotd->log();
  auto m = iotd->get("/metrics").body;
  EXPECT_EQ(metric(m, "process_max_fds"), static_cast<double>(saved.rlim_max)) << m;
}

TEST_F(HttpLimits, WriteBurstGets429WithRetryAfterPerKeyWhileOtherKeysAndReadsPass) {
  start_iotd({{"IOTD_RATE_LIMIT_WRITES", "1/min"}, {"IOTD_RATE_LIMIT_BURST", "3"}});
  std::map<std::string, std::string> keys;
  for (const char* id : {"rl-a", "rl-b"}) {
    auto created = iotd->post("/api/v1/devices", json{{"device_id", id}}.dump(), kAdmin);
    ASSERT_EQ(created.status, 201) << created.body;
    keys[id] = created.json()["api_key"];
  }
  // The admin key spent 2 of its 3 on the devices above.
  auto ingest = [&](const std::string& id, int n) {
    return iotd->post("/api/v1/ingest",
                      json{{"device_id", id}, {"timestamp", 1769697045000 + n}, {"temperature", n}}.dump(),
                      {{"X-API-Key", keys[id]}, {"Content-Type", "application/json"}});
  };
  for (int i = 0; i < 3; ++i) ASSERT_EQ(ingest("rl-a", i).status, 201) << i;
  auto limited = ingest("rl-a", 3);
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.json()["error"]["code"], "rate_limited");
  const auto retry_after = std::stoi(header_of(limited, "retry-after"));
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  EXPECT_EQ(ingest("rl-b", 0).status, 201) << "another key is not affected";
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(iotd->get("/api/v1/readings?device_id=rl-a").status, 200) << "reads are not limited";
  EXPECT_EQ(iotd->get("/api/v1/readings?device_id=rl-a").json()["count"], 3) << "the 429 stored nothing";

  // Wrong keys are limited by address: the 4th guess from here is a 429, not a 403.
  int forbidden = 0, too_many = 0;
  for (int i = 0; i < 4; ++i) {
    auto r = iotd->post("/api/v1/ingest", "{}", {{"X-API-Key", "guess-" + std::to_string(i)}});
    forbidden += r.status == 403;
    too_many += r.status == 429;
  }
  EXPECT_EQ(forbidden, 3);
  EXPECT_EQ(too_many, 1);
  auto m = iotd->get("/metrics").body;
  EXPECT_EQ(metric(m, "iotd_http_rate_limited_total"), 2) << m;
}

TEST_F(HttpLimits, BigWebSocketFrameClosesTheStreamWith1009) {
  start_iotd({});
  WsClient ws(iotd->port());
  ASSERT_TRUE(ws.connect("/api/v1/stream")) << ws.error();
  ASSERT_TRUE(ws.send(std::string(64 * 1024, 'x'))) << ws.error();
  while (ws.receive(5s)) {
  }
  EXPECT_TRUE(ws.closed()) << ws.error();
  EXPECT_EQ(ws.close_code(), 1009);
  EXPECT_EQ(iotd->get("/api/v1/health/live").status, 200);
}

}  // namespace
}  // namespace iotd::test
