// The HTTP server over real sockets on 127.0.0.1 with test routes.
#include "iotd/http/server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "iotd/core/counters.hpp"
#include "support/http_client.hpp"

namespace iotd::http {
namespace {

using namespace std::chrono_literals;
using test::HttpClient;
using test::HttpResponse;

// Fixed pattern so a streamed body can be checked byte for byte.
std::string pattern_chunk(std::size_t index, std::size_t size) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>('a' + (index * 7 + i) % 26);
  return s;
}

struct Recorder {
  std::mutex mu;
  std::set<std::thread::id> io_threads;        // guarded by mu
  std::set<std::thread::id> blocking_threads;  // guarded by mu
  std::atomic<int> stream_in_flight{0};
  std::atomic<int> stream_overlaps{0};
};

constexpr std::size_t kStreamChunks = 80;
constexpr std::size_t kStreamChunkSize = 64 * 1024;  // 80 x 64 KiB = 5 MiB

void add_test_routes(Router& r, Recorder& rec) {
  r.add("GET", "/echo", Exec::io, [&rec](const Request& req, const PathParams&, Respond respond) {
    {
      std::lock_guard lock(rec.mu);
      rec.io_threads.insert(std::this_thread::get_id());
    }
    respond(json_response(200, req.param("n").value_or("")));
  });
  r.add("POST", "/echo", Exec::io, [](const Request& req, const PathParams&, Respond respond) {
    Response res;
    res.content_type = "text/plain";
    res.body = req.body;
    respond(std::move(res));
  });
  r.add("GET", "/slow", Exec::blocking, [&rec](const Request& req, const PathParams&, Respond respond) {
    {
      std::lock_guard lock(rec.mu);
      rec.blocking_threads.insert(std::this_thread::get_id());
    }
    auto ms = std::stoi(req.param("ms").value_or("100"));
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    respond(json_response(200, req.param("n").value_or("")));
  });
  r.add("GET", "/items/{id}", Exec::io, [](const Request&, const PathParams& p, Respond respond) {
    respond(json_response(200, "{\"id\":\"" + p.at("id") + "\"}"));
  });
  r.add("DELETE", "/items/{id}", Exec::io, [](const Request&, const PathParams&, Respond respond) {
    respond(json_response(200, "{}"));
  });
  r.add("GET", "/throw", Exec::io, [](const Request&, const PathParams&, Respond) {
    throw std::runtime_error("boom");
  });
  r.add("GET", "/throw-blocking", Exec::blocking, [](const Request&, const PathParams&, Respond) {
    throw std::runtime_error("boom");
  });
  r.add("GET", "/forget", Exec::blocking, [](const Request&, const PathParams&, Respond) {});
  r.add("GET", "/twice", Exec::io, [](const Request&, const PathParams&, Respond respond) {
    respond(json_response(200, "\"first\""));
    respond(json_response(500, "\"second\""));
  });
  r.add("GET", "/stream", Exec::blocking, [&rec](const Request&, const PathParams&, Respond respond) {
    Response res;
    res.content_type = "application/octet-stream";
    auto next = std::make_shared<std::size_t>(0);
    res.stream = [&rec, next](std::string& chunk) {
      if (rec.stream_in_flight.fetch_add(1) != 0) rec.stream_overlaps.fetch_add(1);
      {
        std::lock_guard lock(rec.mu);
        rec.blocking_threads.insert(std::this_thread::get_id());
      }
      chunk = pattern_chunk(*next, kStreamChunkSize);
      ++*next;
      rec.stream_in_flight.fetch_sub(1);
      return *next < kStreamChunks;
    };
    respond(std::move(res));
  });
  r.add("GET", "/stream-fail", Exec::blocking, [](const Request&, const PathParams&, Respond respond) {
    Response res;
    auto n = std::make_shared<int>(0);
    res.stream = [n](std::string& chunk) {
      if (++*n == 3) throw std::runtime_error("storage went away");
      chunk = "part\n";
      return true;
    };
    respond(std::move(res));
  });
}

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerOptions opts = {}) {
    opts.listen = "127.0.0.1:0";
    add_test_routes(router_, rec_);
    server_ = std::make_unique<Server>(opts, router_);
    server_->start();
  }
  HttpClient client(std::chrono::milliseconds timeout = 10s) {
    return HttpClient("127.0.0.1", server_->port(), timeout);
  }
  std::uint16_t port() const { return server_->port(); }

  Router router_;
  Recorder rec_;
  std::unique_ptr<Server> server_;
};

ServerOptions small_opts() {
  ServerOptions o;
  o.io_threads = 2;
  o.blocking_threads = 2;
  return o;
}

TEST_F(ServerTest, BindsAnEphemeralPortAndReportsIt) {
  start(small_opts());
  EXPECT_GT(port(), 0);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(port()));
}

TEST_F(ServerTest, BindFailureNamesTheAddress) {
  Router r;
  ServerOptions o;
  o.listen = "127.0.0.1:notaport";
  try {
    Server s(o, r);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:notaport"), std::string::npos) << e.what();
  }
}

TEST_F(ServerTest, AnswersWithServerDateAndCorsHeaders) {
  start(small_opts());
  auto c = client();
  auto r = c.get("/echo?n=7");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "7");
  EXPECT_EQ(r.header("server"), "iotd");
  EXPECT_TRUE(r.header("date").has_value());
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start(small_opts());
  auto c = client();
  c.connect();
  for (int i = 0; i < 5; ++i) {
    c.send_raw("GET /echo?n=" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    auto r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, std::to_string(i));
    ASSERT_TRUE(c.is_open()) << "server closed a keep-alive connection";
  }
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  start(small_opts());
  auto c = client();
  c.connect();
  c.send_raw("GET /echo?n=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(c.is_open());
}

TEST_F(ServerTest, Http10WithoutKeepAliveClosesAfterTheResponse) {
  start(small_opts());
  auto c = client();
  c.connect();
  c.send_raw("GET /echo?n=1 HTTP/1.0\r\n\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "1");
  EXPECT_TRUE(c.wait_closed(2s));
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start(small_opts());
  auto c = client();
  c.connect();
  c.send_raw(
      "GET /slow?n=1&ms=150 HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /echo?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n3"
      "GET /slow?n=4&ms=10 HTTP/1.1\r\nHost: x\r\n\r\n");
  for (const char* expected : {"1", "2", "3", "4"}) {
    auto r = c.read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, expected);
  }
}

TEST_F(ServerTest, UnknownPathIs404Json) {
  start(small_opts());
  auto c = client();
  auto r = c.get("/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("\"code\":\"not_found\""), std::string::npos) << r.body;
  EXPECT_EQ(c.get("/echo?n=1").status, 200) << "connection stays usable";
}

TEST_F(ServerTest, WrongMethodIs405WithAllow) {
  start(small_opts());
  auto c = client();
  auto r = c.request("PUT", "/items/3", "x");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET, DELETE");
  EXPECT_NE(r.body.find("\"code\":\"method_not_allowed\""), std::string::npos) << r.body;
}

TEST_F(ServerTest, PathParametersArePercentDecoded) {
  start(small_opts());
  auto c = client();
  auto r = c.get("/items/a%3Ab");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "{\"id\":\"a:b\"}");
}

TEST_F(ServerTest, MalformedPercentEncodingIs400) {
  start(small_opts());
  auto c = client();
  EXPECT_EQ(c.get("/items/%zz").status, 400);
  EXPECT_EQ(client().get("/echo?n=%4").status, 400);
}

TEST_F(ServerTest, HeadReturnsHeadersOnly) {
  start(small_opts());
  auto c = client();
  c.connect();
  c.send_raw("HEAD /echo?n=12345 HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = c.read_response(/*head_request=*/true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-length"), "5");
  EXPECT_TRUE(r.body.empty());
  // The next response on the connection must not be polluted by a stray body.
  c.send_raw("GET /echo?n=9 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().body, "9");
}

TEST_F(ServerTest, BodyOverTheLimitIs413) {
  auto o = small_opts();
  o.body_limit = 1024;
  start(o);
  auto c = client();
  auto r = c.post("/echo", std::string(4096, 'x'));
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(r.body.find("\"code\":\"payload_too_large\""), std::string::npos) << r.body;
  // Within the limit is fine.
  auto ok = client().post("/echo", std::string(1000, 'y'));
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body.size(), 1000u);
}

TEST_F(ServerTest, ChunkedBodyOverTheLimitIs413) {
  auto o = small_opts();
  o.body_limit = 1024;
  start(o);
  auto c = client();
  c.connect();
  std::string req = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) req += "400\r\n" + std::string(1024, 'z') + "\r\n";
  req += "0\r\n\r\n";
  c.send_raw(req);
  EXPECT_EQ(c.read_response().status, 413);
}

TEST_F(ServerTest, HeadersOverTheLimitAre431) {
  auto o = small_opts();
  o.header_limit = 1024;
  start(o);
  auto c = client();
  auto r = c.get("/echo?n=1", {{"X-Big", std::string(4000, 'h')}});
  EXPECT_EQ(r.status, 431);
  EXPECT_NE(r.body.find("request_header_fields_too_large"), std::string::npos) << r.body;
}

TEST_F(ServerTest, MalformedRequestLineIs400) {
  start(small_opts());
  for (const char* bad : {"GARBAGE\r\n\r\n", "GET /echo HTTP/9.x\r\n\r\n",
                          "GET /echo HTTP/1.1\r\nBad Header Without Colon\r\n\r\n",
                          "POST /echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n"}) {
    auto c = client();
    c.connect();
    c.send_raw(bad);
    auto r = c.read_response();
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_NE(r.body.find("\"code\":\"bad_request\""), std::string::npos) << r.body;
    EXPECT_TRUE(c.wait_closed(3s)) << bad;
  }
  EXPECT_EQ(client().get("/echo?n=1").status, 200) << "server still serves";
}

TEST_F(ServerTest, SlowClientIsDisconnectedAfterTheReadTimeout) {
  auto o = small_opts();
  o.read_timeout = 1s;
  o.idle_timeout = 10s;
  start(o);
  auto c = client();
  c.connect();
  auto t0 = std::chrono::steady_clock::now();
  c.send_raw("GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n");  // never finishes the headers
  EXPECT_TRUE(c.wait_closed(5s));
  auto elapsed = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(elapsed, 800ms);
  EXPECT_LT(elapsed, 4s);
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosedAfterTheIdleTimeout) {
  auto o = small_opts();
  o.read_timeout = 5s;
  o.idle_timeout = 1s;
  start(o);
  auto c = client();
  c.connect();
  c.send_raw("GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 200);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.wait_closed(5s));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
}

TEST_F(ServerTest, OptionsPreflightIs204WithCorsHeaders) {
  start(small_opts());
  auto c = client();
  auto r = c.request("OPTIONS", "/items/1", {},
                     {{"Origin", "http://dash.example"},
                      {"Access-Control-Request-Method", "DELETE"},
                      {"Access-Control-Request-Headers", "X-API-Key"}});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  auto methods = r.header("access-control-allow-methods").value_or("");
  EXPECT_NE(methods.find("GET"), std::string::npos);
  EXPECT_NE(methods.find("DELETE"), std::string::npos);
  EXPECT_EQ(r.header("access-control-allow-headers"), "Content-Type, X-API-Key, Authorization");
  EXPECT_TRUE(r.header("access-control-max-age").has_value());
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(c.request("OPTIONS", "/unknown").status, 404);
}

TEST_F(ServerTest, CorsListEchoesOnlyListedOrigins) {
  auto o = small_opts();
  o.cors_origins = "http://a.example, http://b.example";
  start(o);
  auto c = client();
  auto r = c.get("/echo?n=1", {{"Origin", "http://b.example"}});
  EXPECT_EQ(r.header("access-control-allow-origin"), "http://b.example");
  EXPECT_EQ(r.header("vary"), "Origin");
  auto other = c.get("/echo?n=1", {{"Origin", "http://evil.example"}});
  EXPECT_FALSE(other.header("access-control-allow-origin").has_value());
  auto none = c.get("/echo?n=1");
  EXPECT_FALSE(none.header("access-control-allow-origin").has_value());
}

TEST_F(ServerTest, HandlerExceptionIs500AndTheConnectionSurvives) {
  start(small_opts());
  auto c = client();
  for (const char* path : {"/throw", "/throw-blocking"}) {
    auto r = c.get(path);
    EXPECT_EQ(r.status, 500) << path;
    EXPECT_NE(r.body.find("\"code\":\"internal\""), std::string::npos) << r.body;
  }
  EXPECT_EQ(c.get("/echo?n=5").body, "5");
}

TEST_F(ServerTest, HandlerThatNeverRespondsGets500) {
  start(small_opts());
  auto c = client(5s);
  EXPECT_EQ(c.get("/forget").status, 500);
  EXPECT_EQ(c.get("/echo?n=1").status, 200);
}

TEST_F(ServerTest, SecondRespondIsIgnored) {
  start(small_opts());
  auto c = client();
  auto r = c.get("/twice");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "\"first\"");
  EXPECT_EQ(c.get("/echo?n=2").body, "2");
}

TEST_F(ServerTest, BlockingHandlersRunOffTheIoThread) {
  auto o = small_opts();
  o.io_threads = 1;
  o.blocking_threads = 2;
  start(o);
  auto c = client();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.get("/echo?n=1").status, 200);
    EXPECT_EQ(c.get("/slow?n=1&ms=1").status, 200);
  }
  std::lock_guard lock(rec_.mu);
  ASSERT_EQ(rec_.io_threads.size(), 1u);
  ASSERT_FALSE(rec_.blocking_threads.empty());
  for (auto id : rec_.blocking_threads) EXPECT_EQ(rec_.io_threads.count(id), 0u);
}

TEST_F(ServerTest, SlowBlockingHandlerDoesNotStallTheIoThread) {
  auto o = small_opts();
  o.io_threads = 1;
  o.blocking_threads = 2;
  start(o);
  std::thread slow([this] {
    auto c = client();
    EXPECT_EQ(c.get("/slow?n=1&ms=1500").status, 200);
  });
  std::this_thread::sleep_for(100ms);
  auto c = client();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(c.get("/echo?n=1").status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1000ms);
  slow.join();
}

TEST_F(ServerTest, StreamsFiveMegabytesInChunksWithBackpressure) {
  auto o = small_opts();
  o.io_threads = 1;
  start(o);
  auto c = client(30s);
  auto r = c.get("/stream");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("transfer-encoding"), "chunked");
  EXPECT_FALSE(r.header("content-length").has_value());
  ASSERT_EQ(r.body.size(), kStreamChunks * kStreamChunkSize);
  for (std::size_t i = 0; i < kStreamChunks; ++i)
    ASSERT_EQ(r.body.compare(i * kStreamChunkSize, kStreamChunkSize, pattern_chunk(i, kStreamChunkSize)), 0)
        << "chunk " << i;
  EXPECT_EQ(rec_.stream_overlaps.load(), 0) << "the producer ran concurrently with itself";
  {
    std::lock_guard lock(rec_.mu);
    for (auto id : rec_.blocking_threads) EXPECT_EQ(rec_.io_threads.count(id), 0u);
  }
  // Keep-alive after a streamed response.
  EXPECT_EQ(c.get("/echo?n=3").body, "3");
}

TEST_F(ServerTest, FailingStreamTruncatesTheResponse) {
  start(small_opts());
  auto c = client();
  EXPECT_THROW(c.get("/stream-fail"), std::runtime_error);
  EXPECT_EQ(client().get("/echo?n=1").status, 200);
}

TEST_F(ServerTest, ServesTwoHundredConcurrentConnections) {
  start(small_opts());
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<HttpClient>("127.0.0.1", port(), 20s));
    clients.back()->connect();
  }
  for (int i = 0; i < kClients; ++i) {
    std::string path = i % 10 == 0 ? "/slow?ms=20&n=" : "/echo?n=";
    clients[i]->send_raw("GET " + path + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  for (int i = 0; i < kClients; ++i) {
    auto r = clients[i]->read_response();
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, std::to_string(i));
  }
}

TEST_F(ServerTest, ConnectionsBeyondTheCapGet503WithRetryAfterAndAreClosed) {
  auto o = small_opts();
  o.max_connections = 2;
  Counters counters;
  o.counters = &counters;
  start(o);
  auto a = client(), b = client();
  EXPECT_EQ(a.get("/echo?n=1").status, 200);
  EXPECT_EQ(b.get("/echo?n=2").status, 200);
  EXPECT_EQ(server_->connections(), 2u);
  auto extra = client();
  extra.connect();
  extra.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'b'));
  auto refused = extra.read_response();
  EXPECT_EQ(refused.status, 503);
  EXPECT_EQ(refused.header("retry-after").value_or(""), "1");
  EXPECT_NE(refused.body.find("\"code\":\"too_many_connections\""), std::string::npos) << refused.body;
  EXPECT_TRUE(extra.wait_closed(3s));
  EXPECT_EQ(counters.http_connections_refused.load(), 1u);
  EXPECT_EQ(server_->connections(), 2u) << "a refused connection is not counted";
  // A freed slot is usable again.
  a.close();
  bool served = false;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!served && std::chrono::steady_clock::now() < deadline) {
    try {
      served = client(1s).get("/echo?n=4").status == 200;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(20ms);
    }
  }
  EXPECT_TRUE(served);
}

TEST_F(ServerTest, ExpectContinueGetsTheBodyRead) {
  start(small_opts());
  auto c = client();
  c.connect();
  c.send_raw("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  std::this_thread::sleep_for(50ms);
  c.send_raw("hello");
  auto r = c.read_response();  // skips the interim 100
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "hello");
}

TEST_F(ServerTest, StopClosesOpenConnections) {
  start(small_opts());
  auto c = client();
  c.connect();
  c.send_raw("GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(c.read_response().status, 200);
  server_->stop();
  EXPECT_TRUE(c.wait_closed(3s));
}

TEST_F(ServerTest, StopWhileABlockingHandlerRunsIsClean) {
  start(small_opts());
  std::thread t([this] {
    auto c = client(5s);
    try {
      c.get("/slow?ms=300");
    } catch (const std::exception&) {
    }
  });
  std::this_thread::sleep_for(100ms);
  server_->stop();
  t.join();
  server_.reset();
}

// Issue 12: stop() lets a request being answered finish (up to drain_timeout) and
// refuses new requests meanwhile by closing their connections.
TEST_F(ServerTest, StopDrainsARequestInFlightBeforeClosing) {
  start(small_opts());
  int status = 0;
  std::string body;
  std::thread t([&] {
    auto c = client(5s);
    try {
      auto r = c.get("/slow?n=7&ms=400");
      status = r.status;
      body = r.body;
    } catch (const std::exception& e) {
      body = e.what();
    }
  });
  std::this_thread::sleep_for(100ms);
  server_->stop();
  t.join();
  EXPECT_EQ(status, 200) << body;
  EXPECT_EQ(body, "7");
  server_.reset();
}

}  // namespace
}  // namespace iotd::http
