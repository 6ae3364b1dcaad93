// TLS end to end (docs/architecture.md §19), with a throwaway CA made by openssl in the test:
// MQTT to a mosquitto TLS listener (server verified against the CA, client certificate,
// user name and password; a wrong CA, an expired broker certificate, a missing client
// certificate and a wrong password are clear errors in /health, never a hang), and HTTPS
// and WSS on iotd's own port with real clients (curl, a Beast WSS client); plain HTTP on the
// TLS port gets a 400, and bad TLS files stop start-up naming the setting.
#include <gtest/gtest.h>

#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "support/iotd_process.hpp"
#include "support/process.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"
#include "support/test_pki.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The lines that turn the broker's listener into a TLS one with `cert` (mosquitto applies
// them to the listener before them, the only one).
std::vector<std::string> tls_listener(const TestPki& pki, const fs::path& cert, bool require_client_cert) {
  return {"cafile " + pki.ca_cert().string(), "certfile " + cert.string(),
          "keyfile " + pki.server_key().string(),
          std::string("require_certificate ") + (require_client_cert ? "true" : "false")};
}

struct CurlReply {
  int status = 0;  // 0: no HTTP answer (see log)
  std::string body, log;
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new TestPki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  static const TestPki& pki() { return *pki_; }

  // mosquitto_pub over TLS to localhost (the certificate's name); `extra`: -u/-P, --cert/--key.
  int publish_tls(const MosquittoServer& broker, const std::string& topic, const std::string& payload,
                  std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{"mosquitto_pub", "-h", "localhost", "-p", std::to_string(broker.port()),
                                  "--cafile", pki().ca_cert().string(), "-q", "1", "-t", topic, "-m", payload,
                                  "-i", "tls-test-pub"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Process::exit_code(
        run_process(argv, ProcessOptions{.env = {}, .cwd = {}, .log_file = dir / "pub.log"}, 20s));
  }

  // curl against iotd; `args` after the common ones (e.g. --cacert, -H, the URL).
  CurlReply curl(std::vector<std::string> args) {
    const auto body = dir / "curl.body", log = dir / "curl.log";
    fs::remove(body);
    fs::remove(log);
    std::vector<std::string> argv{"curl", "-sS", "--max-time", "10", "-o", body.string(), "-w", "\n%{http_code}\n"};
    argv.insert(argv.end(), args.begin(), args.end());
    run_process(argv, ProcessOptions{.env = {}, .cwd = {}, .log_file = log}, 20s);
    CurlReply r;
    r.log = read_text(log);
    r.body = read_text(body);
    // The last line is the status -w wrote ("000": no HTTP answer).
    auto end = r.log.find_last_not_of('\n');
    if (end != std::string::npos) {
      auto start = r.log.rfind('\n', end);
      try {
        r.status = std::stoi(r.log.substr(start == std::string::npos ? 0 : start + 1, end - start));
      } catch (const std::exception&) {
      }
    }
    return r;
  }

  // Waits until /health's text holds `needle` (e.g. the MQTT state's reason).
  bool health_says(IotdProcess& p, const std::string& needle, std::chrono::milliseconds limit = 30s) {
    return eventually([&] { return p.get("/api/v1/health").body.find(needle) != std::string::npos; }, limit);
  }

  std::unique_ptr<IotdProcess> start_iotd(const std::string& mqtt_url, std::map<std::string, std::string> env) {
    env.emplace("IOTD_COMMIT_DELAY", "0");
    return std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", mqtt_url, std::move(env)});
  }

  static std::string ssl_url(const MosquittoServer& b) { return "ssl://localhost:" + std::to_string(b.port()); }

  TempDir dir;
  static TestPki* pki_;
};

TestPki* TlsTest::pki_ = nullptr;

constexpr char kReading[] = R"({"device_id": "tls-dev", "timestamp": "2026-01-29T14:30:45Z", "temperature": 21.5})";

// ---- MQTT ------------------------------------------------------------------------------

TEST_F(TlsTest, MqttOverTlsStoresAMessagePublishedOverTls) {
  MosquittoServer broker({.extra_config = tls_listener(pki(), pki().server_cert(), false)});
  auto iotd = start_iotd("mqtts://localhost:" + std::to_string(broker.port()),
                         {{"IOTD_MQTT_CA_FILE", pki().ca_cert().string()}});
  ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 20s))
      << iotd->get("/api/v1/health").body << iotd->log();
  ASSERT_EQ(publish_tls(broker, "sensors/tls-dev/data", kReading), 0) << read_text(dir / "pub.log");
  ASSERT_TRUE(eventually([&] { return sqlite_count(iotd->db_path(), "SELECT COUNT(*) FROM messages") == 1; }, 15s))
      << iotd->log();
  EXPECT_EQ(sqlite_metric_values(iotd->db_path(), "temperature"), std::vector<double>{21.5});
}

TEST_F(TlsTest, SimulatorPublishesOverTlsAndEveryMessageIsStored) {
  MosquittoServer broker({.extra_config = tls_listener(pki(), pki().server_cert(), false)});
  auto iotd = start_iotd(ssl_url(broker), {{"IOTD_MQTT_CA_FILE", pki().ca_cert().string()}});
  ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 20s))
      << iotd->get("/api/v1/health").body;
  const int rc = Process::exit_code(run_process(
      {IOTD_SIM_BINARY, "publish", "--engine", "paho", "--url", ssl_url(broker), "--cafile",
       pki().ca_cert().string(), "--devices", "5", "--messages", "50", "--qos", "1", "--style", "flat"},
      ProcessOptions{.env = {}, .cwd = {}, .log_file = dir / "sim.log"}, 60s));
  ASSERT_EQ(rc, 0) << read_text(dir / "sim.log");
  EXPECT_TRUE(eventually([&] { return sqlite_count(iotd->db_path(), "SELECT COUNT(*) FROM messages") == 50; }, 20s))
      << sqlite_count(iotd->db_path(), "SELECT COUNT(*) FROM messages") << iotd->log();
}

TEST_F(TlsTest, MqttWrongCaIsAClearErrorInHealthAndLogAndIotdKeepsAnswering) {
  MosquittoServer broker({.extra_config = tls_listener(pki(), pki().server_cert(), false)});
  auto iotd = start_iotd(ssl_url(broker), {{"IOTD_MQTT_CA_FILE", pki().other_ca_cert().string()}});
  ASSERT_TRUE(health_says(*iotd, "certificate verify failed")) << iotd->get("/api/v1/health").body;
  auto h = iotd->get("/api/v1/health").json();
  EXPECT_EQ(h["mqtt"]["connected"], false);
  EXPECT_EQ(h["status"], "degraded") << h.dump();
  EXPECT_NE(iotd->log().find("certificate verify failed"), std::string::npos) << iotd->log();
  EXPECT_EQ(iotd->get("/api/v1/health/live").status, 200);  // no hang: still serving
}

TEST_F(TlsTest, MqttExpiredBrokerCertificateIsAClearError) {
  MosquittoServer broker({.extra_config = tls_listener(pki(), pki().expired_server_cert(), false)});
  auto iotd = start_iotd(ssl_url(broker), {{"IOTD_MQTT_CA_FILE", pki().ca_cert().string()}});
  ASSERT_TRUE(health_says(*iotd, "certificate has expired")) << iotd->get("/api/v1/health").body;
  EXPECT_EQ(iotd->get("/api/v1/health").json()["mqtt"]["connected"], false);
}

TEST_F(TlsTest, MqttClientCertificateListenerAcceptsTheCertAndRefusesWithoutIt) {
  MosquittoServer broker({.extra_config = tls_listener(pki(), pki().server_cert(), true)});
  {
    auto without = start_iotd(ssl_url(broker), {{"IOTD_MQTT_CA_FILE", pki().ca_cert().string()}});
    ASSERT_TRUE(health_says(*without, "mqtt disconnected")) << without->get("/api/v1/health").body;
    EXPECT_EQ(without->get("/api/v1/health").json()["mqtt"]["connected"], false);
  }
  auto iotd = start_iotd(ssl_url(broker), {{"IOTD_MQTT_CA_FILE", pki().ca_cert().string()},
                                           {"IOTD_MQTT_CERT_FILE", pki().client_cert().string()},
                                           {"IOTD_MQTT_KEY_FILE", pki().client_key().string()}});
  ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 20s))
      << iotd->get("/api/v1/health").body;
  ASSERT_EQ(publish_tls(broker, "sensors/tls-dev/data", kReading,
                        {"--cert", pki().client_cert().string(), "--key", pki().client_key().string()}),
            0)
      << read_text(dir / "pub.log");
  EXPECT_TRUE(eventually([&] { return sqlite_count(iotd->db_path(), "SELECT COUNT(*) FROM messages") == 1; }, 15s))
      << iotd->log();
}

TEST_F(TlsTest, MqttUserNameAndPasswordAgainstAPasswordFile) {
  const auto passwd = dir / "passwd";
  std::ofstream(passwd).close();
  ASSERT_EQ(Process::exit_code(run_process({"mosquitto_passwd", "-b", passwd.string(), "iotd", "s3cret-pass"},
                                           ProcessOptions{}, 10s)),
            0);
  auto lines = tls_listener(pki(), pki().server_cert(), false);
  lines.push_back("allow_anonymous false");
  lines.push_back("password_file " + passwd.string());
  MosquittoServer broker({.extra_config = lines});
  {
    auto wrong = start_iotd(ssl_url(broker), {{"IOTD_MQTT_CA_FILE", pki().ca_cert().string()},
                                              {"IOTD_MQTT_USERNAME", "iotd"},
                                              {"IOTD_MQTT_PASSWORD", "wrong"}});
    ASSERT_TRUE(health_says(*wrong, "mqtt disconnected")) << wrong->get("/api/v1/health").body;
    EXPECT_EQ(wrong->get("/api/v1/health").json()["mqtt"]["connected"], false);
  }
  auto iotd = start_iotd(ssl_url(broker), {{"IOTD_MQTT_CA_FILE", pki().ca_cert().string()},
                                           {"IOTD_MQTT_USERNAME", "iotd"},
                                           {"IOTD_MQTT_PASSWORD", "s3cret-pass"}});
  ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 20s))
      << iotd->get("/api/v1/health").body;
  ASSERT_EQ(publish_tls(broker, "sensors/tls-dev/data", kReading, {"-u", "iotd", "-P", "s3cret-pass"}), 0)
      << read_text(dir / "pub.log");
  EXPECT_TRUE(eventually([&] { return sqlite_count(iotd->db_path(), "SELECT COUNT(*) FROM messages") == 1; }, 15s))
      << iotd->log();
}

TEST_F(TlsTest, MqttTlsFileThatCannotBeReadStopsStartUpNamingTheSetting) {
  const auto log = dir / "iotd.log";
  const int status = run_process(
      {IOTD_BINARY},
      ProcessOptions{.env = {{"IOTD_HTTP_LISTEN", "127.0.0.1:0"},
                             {"IOTD_DATABASE_URL", sqlite_url(dir / "iotd.db")},
                             {"IOTD_JOURNAL_DIR", (dir / "journal").string()},
                             {"IOTD_MQTT_URL", "ssl://localhost:1"},
                             {"IOTD_MQTT_CA_FILE", (dir / "missing-ca.pem").string()}},
                     .cwd = dir.path(),
                     .log_file = log},
      30s);
  EXPECT_NE(Process::exit_code(status), 0);
  EXPECT_NE(read_text(log).find("IOTD_MQTT_CA_FILE"), std::string::npos) << read_text(log);
}

// ---- HTTPS and WSS -------------------------------------------------------------------

class HttpsTest : public TlsTest {
 protected:
  void SetUp() override {
    iotd = start_iotd("", {{"IOTD_HTTP_TLS_CERT", pki().server_cert().string()},
                           {"IOTD_HTTP_TLS_KEY", pki().server_key().string()}});
  }
  std::string url(const std::string& path) const { return "https://localhost:" + std::to_string(iotd->port()) + path; }
  CurlReply get(const std::string& path, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--cacert", pki().ca_cert().string()};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(url(path));
    return curl(args);
  }
  std::unique_ptr<IotdProcess> iotd;
};

TEST_F(HttpsTest, CurlReachesHealthAndAnAuthedRouteOverTls) {
  auto health = get("/api/v1/health");
  ASSERT_EQ(health.status, 200) << health.log;
  EXPECT_EQ(json::parse(health.body)["database"]["ok"], true) << health.body;
  // An admin route: the key works over TLS, and its absence is still a 401.
  auto rejects = get("/api/v1/rejects", {"-H", std::string("X-API-Key: ") + kTestAdminKey});
  EXPECT_EQ(rejects.status, 200) << rejects.log << rejects.body;
  EXPECT_EQ(get("/api/v1/rejects").status, 401);
  // HTTP ingest over TLS is stored.
  auto posted = get("/api/v1/ingest", {"-X", "POST", "-H", std::string("X-API-Key: ") + kTestAdminKey, "-H",
                                       "Content-Type: application/json", "-d", kReading});
  EXPECT_EQ(posted.status, 201) << posted.body;
  EXPECT_EQ(sqlite_count(iotd->db_path(), "SELECT COUNT(*) FROM messages"), 1);
}

TEST_F(HttpsTest, UntrustedClientFailsTheHandshakeAndTls11IsRefused) {
  // The start-up probe's bare TCP connection already counts as a failed handshake.
  const auto before = json::parse(get("/api/v1/health").body)["counters"]["http_tls_handshake_failures"].get<int>();
  auto untrusted = curl({url("/api/v1/health")});  // the system CAs do not know the test CA
  EXPECT_EQ(untrusted.status, 0) << untrusted.log;
  auto old = curl({"--cacert", pki().ca_cert().string(), "--tlsv1.1", "--tls-max", "1.1", url("/api/v1/health")});
  EXPECT_EQ(old.status, 0) << old.log;
  EXPECT_EQ(get("/api/v1/health/live").status, 200);  // and the server is fine
  // Both failed handshakes are counted (the server may see the client's alert a moment
  // after curl has given up).
  json counters;
  for (auto deadline = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(50ms)) {
    counters = json::parse(get("/api/v1/health").body)["counters"];
    if (counters["http_tls_handshake_failures"] == before + 2) break;
  }
  EXPECT_EQ(counters["http_tls_handshake_failures"], before + 2) << counters.dump();
}

TEST_F(HttpsTest, PlainHttpToTheTlsPortGetsA400SayingHttpsAndTheServerKeepsServing) {
  auto plain = curl({"http://127.0.0.1:" + std::to_string(iotd->port()) + "/api/v1/health"});
  EXPECT_EQ(plain.status, 400) << plain.log;
  EXPECT_EQ(json::parse(plain.body)["error"]["code"], "https_required") << plain.body;
  EXPECT_EQ(get("/api/v1/health/live").status, 200);
}

// A WSS client (Beast over OpenSSL) that trusts the test CA and checks the host name.
class WssClient {
 public:
  WssClient(std::uint16_t port, const fs::path& ca) : ctx_(boost::asio::ssl::context::tls_client), ws_(ioc_, ctx_) {
    ctx_.load_verify_file(ca.string());
    ctx_.set_verify_mode(boost::asio::ssl::verify_peer);
    auto& tcp = boost::beast::get_lowest_layer(ws_);
    tcp.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    timeval tv{10, 0};  // a receive that waits longer fails the test instead of hanging it
    ::setsockopt(tcp.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    SSL* ssl = ws_.next_layer().native_handle();
    SSL_set_tlsext_host_name(ssl, "localhost");
    SSL_set1_host(ssl, "localhost");
  }
  void handshake(const std::string& target) {
    ws_.next_layer().handshake(boost::asio::ssl::stream_base::client);
    ws_.handshake("localhost", target);
  }
  std::string receive() {
    boost::beast::flat_buffer b;
    ws_.read(b);
    return boost::beast::buffers_to_string(b.data());
  }
  void close() { ws_.close(boost::beast::websocket::close_code::normal); }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ssl::context ctx_;
  boost::beast::websocket::stream<boost::beast::ssl_stream<boost::beast::tcp_stream>> ws_;
};

TEST_F(HttpsTest, WssClientReceivesTheFrameOfAReadingPostedOverHttps) {
  WssClient ws(iotd->port(), pki().ca_cert());
  ASSERT_NO_THROW(ws.handshake("/api/v1/stream?device_id=tls-dev"));
  // Subscribed once the gauge counts it.
  ASSERT_TRUE(eventually(
      [&] {
        auto h = get("/api/v1/health");
        return h.status == 200 && json::parse(h.body)["counters"].value("ws_clients", 0) == 1;
      },
      10s));
  auto posted = get("/api/v1/ingest", {"-X", "POST", "-H", std::string("X-API-Key: ") + kTestAdminKey, "-H",
                                       "Content-Type: application/json", "-d", kReading});
  ASSERT_EQ(posted.status, 201) << posted.body;
  std::string frame;
  ASSERT_NO_THROW(frame = ws.receive());
  auto f = json::parse(frame);
  EXPECT_EQ(f["type"], "reading") << frame;
  EXPECT_EQ(f["device_id"], "tls-dev") << frame;
  EXPECT_EQ(f["metrics"]["temperature"], 21.5) << frame;
  EXPECT_NO_THROW(ws.close());
}

TEST_F(TlsTest, HttpsFilesThatAreMissingOrNotPemStopStartUpNamingTheSetting) {
  std::ofstream(dir / "garbage.pem") << "not a certificate\n";
  auto run = [&](const std::string& cert, const std::string& key) {
    const auto log = dir / "start.log";
    fs::remove(log);
    const int status = run_process(
        {IOTD_BINARY},
        ProcessOptions{.env = {{"IOTD_HTTP_LISTEN", "127.0.0.1:0"},
                               {"IOTD_DATABASE_URL", sqlite_url(dir / "iotd.db")},
                               {"IOTD_JOURNAL_DIR", (dir / "journal").string()},
                               {"IOTD_MQTT_URL", ""},
                               {"IOTD_HTTP_TLS_CERT", cert},
                               {"IOTD_HTTP_TLS_KEY", key}},
                       .cwd = dir.path(),
                       .log_file = log},
        30s);
    return std::make_pair(Process::exit_code(status), read_text(log));
  };
  auto [rc1, log1] = run((dir / "missing.pem").string(), pki().server_key().string());
  EXPECT_NE(rc1, 0);
  EXPECT_NE(log1.find("IOTD_HTTP_TLS_CERT"), std::string::npos) << log1;
  auto [rc2, log2] = run(pki().server_cert().string(), (dir / "garbage.pem").string());
  EXPECT_NE(rc2, 0);
  EXPECT_NE(log2.find("IOTD_HTTP_TLS_KEY"), std::string::npos) << log2;
  // The client's key is a valid PEM key, but not the server certificate's.
  auto [rc3, log3] = run(pki().server_cert().string(), pki().client_key().string());
  EXPECT_NE(rc3, 0);
  EXPECT_NE(log3.find("does not match"), std::string::npos) << log3;
  // Only one of the two is a configuration error.
  auto [rc4, log4] = run(pki().server_cert().string(), "");
  EXPECT_NE(rc4, 0);
  EXPECT_NE(log4.find("IOTD_HTTP_TLS_KEY"), std::string::npos) << log4;
}

}  // namespace
}  // namespace iotd::test
