// HTTP ingest (issue 9): the routes in front of the real SubmissionQueue and Writer on a
// real SQLite file, behind the real route guard with a device-key resolver. Answers come
// after the commit, so every call waits for its Respond. Also the pure body splitter and
// the deadline timer the 503 on IOTD_INGEST_TIMEOUT rests on.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../../../src/http/deadline_timer.hpp"
#include "../../../src/http/ingest_body.hpp"
#include "iotd/http/api.hpp"
#include "iotd/http/auth.hpp"
#include "iotd/ingest/submission_queue.hpp"
#include "iotd/ingest/writer.hpp"
#include "iotd/storage/database.hpp"
#include "route_call.hpp"
#include "support/temp_dir.hpp"

namespace iotd::http {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAdmin = "s3cret";
constexpr const char* kDeviceKey = "key-of-esp-1";

using Headers = std::map<std::string, std::string>;
const Headers kAsAdmin{{"x-api-key", kAdmin}};
const Headers kAsEsp1{{"x-api-key", kDeviceKey}};

// Routes the request through the router and the guard, runs its handler and waits for the
// one answer (up to 10 s). Counts the answers a handler gives.
class Client {
 public:
  Client(const Router& router, RouteGuard guard) : router_(router), guard_(std::move(guard)) {}

  Response call(const std::string& method, const std::string& target, std::string body = {},
                Headers headers = {}) {
    auto answers = std::make_shared<std::atomic<int>>(0);
    answers_.push_back(answers);
    return test::route_call(router_, guard_, method, target, std::move(body), std::move(headers), answers);
  }

  // Every handler answered exactly once (a late completion after a 503 must not answer again).
  void expect_answered_once() const {
    for (const auto& a : answers_) EXPECT_EQ(a->load(), 1);
  }

 private:
  const Router& router_;
  RouteGuard guard_;
  std::vector<std::shared_ptr<std::atomic<int>>> answers_;
};

json body(const Response& r) {
  auto j = json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
  return j;
}

std::string header(const Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return {};
}

DeviceKeyResolver esp1_resolver() {
  const std::string digest = to_hex(sha256(kDeviceKey));
  return [digest](std::string_view hex) -> std::optional<std::string> {
    if (hex == digest) return std::string("esp-1");
    return std::nullopt;
  };
}

class IngestTest : public ::testing::Test {
 protected:
  IngestTest() : spec_(storage::parse_database_url("sqlite:///" + (dir_ / "iotd.db").string())) {
    storage::migrate(spec_);
    store_ = storage::make_write_store(spec_);
    repo_ = storage::make_repository(spec_, 2);
    ingest::WriterOptions wo;
    wo.instance_id = "test";
    writer_ = std::make_unique<ingest::Writer>(wo, std::vector<ingest::WriterInput*>{&queue_}, *store_,
                                               latest_, counters_);
    writer_->start();
    ApiContext ctx;
    ctx.repo = repo_.get();
    ctx.latest = &latest_;
    ctx.counters = &counters_;
    ctx.health = [] { return HealthSnapshot{}; };
    ctx.ingest = &queue_;
    ctx.ingest_timeout = 10s;
    register_api_routes(router_, ctx);
  }

  ~IngestTest() override {
    writer_->stop(5s);
    queue_.close();
  }

  Response post(const std::string& path, std::string payload, const Headers& h = kAsAdmin) {
    return client_.call("POST", path, std::move(payload), h);
  }
  json get(const std::string& target, const Headers& h = {}) {
    auto r = client_.call("GET", target, "", h);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    return body(r);
  }

  iotd::test::TempDir dir_;
  storage::ConnectionSpec spec_;
  std::unique_ptr<storage::WriteStore> store_;
  std::unique_ptr<storage::Repository> repo_;
  storage::LatestCache latest_;
  Counters counters_;
  ingest::SubmissionQueue queue_;  // outlives the writer, which reads it
  std::unique_ptr<ingest::Writer> writer_;
  Router router_;
  Client client_{router_, make_route_guard(kAdmin, esp1_resolver())};
};

TEST_F(IngestTest, SingleRunsOnIoAndBatchOnThePool) {
  EXPECT_EQ(router_.match("POST", "/api/v1/ingest").route->exec, Exec::io);
  EXPECT_EQ(router_.match("POST", "/api/v1/ingest/batch").route->exec, Exec::blocking);
}

TEST_F(IngestTest, OneMessageIs201AfterItsCommitAndIsServed) {
  auto r = post("/api/v1/ingest",
                R"({"device_id": "esp-9", "timestamp": "2026-01-29T00:00:01Z", "temperature": 21.5, "hum": 40})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto j = body(r);
  EXPECT_EQ(j["stored"], true);
  EXPECT_EQ(j["duplicate"], false);
  EXPECT_EQ(j["device_id"], "esp-9");
  ASSERT_TRUE(j["id"].is_number_integer());
  EXPECT_EQ(j["ids"], json::array({j["id"]}));
  // Committed before the answer: readable at once.
  auto h = get("/api/v1/readings?device_id=esp-9");
  ASSERT_EQ(h["count"], 1);
  EXPECT_EQ(h["data"][0]["id"], j["id"]);
  EXPECT_EQ(h["data"][0]["timestamp"], "2026-01-29T00:00:01.000Z");
  EXPECT_EQ(h["data"][0]["metrics"], (json{{"temperature", 21.5}, {"humidity", 40}}));
  client_.expect_answered_once();
}

TEST_F(IngestTest, EveryPayloadFormIsAccepted) {
  const std::vector<std::string> forms{
      R"({"device_id": "f1", "metrics": {"temperature": 20}, "timestamp": 1769644801})",
      R"({"device_id": "f2", "ts": 1769644801000, "values": {"temperature": 20}})",
      R"({"device_id": "f3", "seq": 7, "measurements": [{"type": "voltage", "val": 230.5, "unit": "V"}]})",
      R"([{"device_id": "f4", "temperature": 1}, {"device_id": "f4", "temperature": 2, "ts": 1769644802}])",
      R"({"device_id": "f5", "temperature": "27.93 °C", "status": "ok"})",
  };
  for (const auto& f : forms) {
    auto r = post("/api/v1/ingest", f);
    EXPECT_EQ(r.status, 201) << f << " -> " << r.body;
  }
  EXPECT_EQ(post("/api/v1/ingest", forms[1]).status, 200) << "a retry with a device time stores nothing";
  // Without a device time there is no content key (docs/architecture.md §5): of the array's
  // two readings only the timed one is a duplicate.
  auto again = post("/api/v1/ingest", forms[3]);
  EXPECT_EQ(again.status, 201);
  EXPECT_EQ(body(again)["ids"].size(), 1u);
  auto latest = get("/api/v1/readings/latest?device_id=f3");
  EXPECT_EQ(latest.dump().find("230.5") != std::string::npos, true) << latest.dump();
}

TEST_F(IngestTest, ARetryWithTheSameMsgIdOrContentIsStoredOnceAndAnswered200Duplicate) {
  const std::string msg = R"({"device_id": "esp-2", "timestamp": 1769644801000, "msg_id": "m-1", "temperature": 22})";
  auto first = post("/api/v1/ingest", msg);
  ASSERT_EQ(first.status, 201) << first.body;
  auto again = post("/api/v1/ingest", msg);
  ASSERT_EQ(again.status, 200) << again.body;
  auto j = body(again);
  EXPECT_EQ(j["duplicate"], true);
  EXPECT_EQ(j["stored"], false);
  EXPECT_EQ(j["device_id"], "esp-2");
  // Same time, another msg_id: a second message.
  EXPECT_EQ(post("/api/v1/ingest",
                 R"({"device_id": "esp-2", "timestamp": 1769644801000, "msg_id": "m-2", "temperature": 22})")
                .status,
            201);
  EXPECT_EQ(get("/api/v1/readings?device_id=esp-2")["count"], 2);
}

TEST_F(IngestTest, BadPayloadsAre400WithTheReasonAndKeptInRejectsAsHttp) {
  auto r = post("/api/v1/ingest", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["error"]["code"], "not_json");
  auto none = post("/api/v1/ingest", R"({"device_id": "esp-3", "status": "ok"})");
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(body(none)["error"]["code"], "no_metrics");
  auto nodev = post("/api/v1/ingest", R"({"temperature": 3})");
  EXPECT_EQ(nodev.status, 400);
  EXPECT_EQ(body(nodev)["error"]["code"], "no_device_id");
  auto empty = post("/api/v1/ingest", "  \n");
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(body(empty)["error"]["code"], "not_json");

  auto rejects = get("/api/v1/rejects?reason=not_json", kAsAdmin);
  ASSERT_EQ(rejects["count"], 1);
  EXPECT_EQ(rejects["data"][0]["source"], "http");
  EXPECT_EQ(rejects["data"][0]["payload"], "{not json");
  EXPECT_EQ(get("/api/v1/rejects?reason=no_metrics", kAsAdmin)["count"], 1);
}

TEST_F(IngestTest, TheGuardNeedsAKey) {
  EXPECT_EQ(post("/api/v1/ingest", R"({"device_id": "x", "t": 1})", {}).status, 401);
  EXPECT_EQ(post("/api/v1/ingest", R"({"device_id": "x", "t": 1})", {{"x-api-key", "wrong"}}).status, 403);
  EXPECT_EQ(post("/api/v1/ingest/batch", "[]", {}).status, 401);
  EXPECT_EQ(get("/api/v1/readings?device_id=x")["count"], 0);
}

TEST_F(IngestTest, ADeviceKeyIsAuthoritative) {
  // No device_id in the body: the key's device.
  auto own = post("/api/v1/ingest", R"({"temperature": 20.5})", kAsEsp1);
  ASSERT_EQ(own.status, 201) << own.body;
  EXPECT_EQ(body(own)["device_id"], "esp-1");
  EXPECT_EQ(post("/api/v1/ingest", R"({"device_id": "esp-1", "temperature": 21})", kAsEsp1).status, 201);
  // Another device named: 403, nothing stored.
  auto other = post("/api/v1/ingest", R"({"device_id": "esp-2", "temperature": 99})", kAsEsp1);
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(body(other)["error"]["code"], "device_mismatch");
  auto in_array = post("/api/v1/ingest", R"([{"temperature": 1}, {"device_id": "esp-2", "temperature": 2}])", kAsEsp1);
  EXPECT_EQ(in_array.status, 403);
  auto batch = post("/api/v1/ingest/batch", R"([{"temperature": 1}, {"device_id": "esp-2", "temperature": 2}])",
                    kAsEsp1);
  EXPECT_EQ(batch.status, 403);
  EXPECT_NE(body(batch)["error"]["message"].get<std::string>().find("item 1"), std::string::npos);
  EXPECT_EQ(get("/api/v1/readings?device_id=esp-2")["count"], 0);
  EXPECT_EQ(get("/api/v1/readings?device_id=esp-1")["count"], 2);
  // The admin key posts for any device.
  EXPECT_EQ(post("/api/v1/ingest", R"({"device_id": "esp-2", "temperature": 19})").status, 201);
}

TEST_F(IngestTest, BatchAnswersPerItemAfterOneCommit) {
  const std::string batch = R"([
    {"device_id": "b-1", "timestamp": 1769644801000, "seq": 1, "temperature": 20},
    {"device_id": "b-1", "timestamp": 1769644802000, "seq": 2, "temperature": 21},
    {"device_id": "b-1", "status": "no metrics here"},
    {not json},
    {"device_id": "b-2", "timestamp": 1769644801000, "seq": 1, "humidity": 50},
    {"device_id": "b-1", "timestamp": 1769644801000, "seq": 1, "temperature": 20}
  ])";
  auto r = post("/api/v1/ingest/batch", batch);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = body(r);
  EXPECT_EQ(j["accepted"], 3);
  EXPECT_EQ(j["duplicates"], 1) << "item 5 repeats item 0";
  ASSERT_EQ(j["rejected"].size(), 2u) << j.dump();
  EXPECT_EQ(j["rejected"][0]["index"], 2);
  EXPECT_EQ(j["rejected"][0]["reason"], "no_metrics");
  EXPECT_EQ(j["rejected"][1]["index"], 3);
  EXPECT_EQ(j["rejected"][1]["reason"], "not_json");
  EXPECT_EQ(get("/api/v1/readings?device_id=b-1")["count"], 2);
  EXPECT_EQ(get("/api/v1/readings?device_id=b-2")["count"], 1);
  // The whole batch again: all duplicates.
  auto again = body(post("/api/v1/ingest/batch", batch));
  EXPECT_EQ(again["accepted"], 0);
  EXPECT_EQ(again["duplicates"], 4);
}

TEST_F(IngestTest, BatchBodyErrors) {
  auto code = [&](const std::string& b) {
    auto r = post("/api/v1/ingest/batch", b);
    return std::to_string(r.status) + " " + body(r)["error"]["code"].get<std::string>();
  };
  EXPECT_EQ(code(R"({"device_id": "x", "temperature": 1})"), "400 not_an_array");
  EXPECT_EQ(code("[{\"a\": 1}"), "400 not_json");
  EXPECT_EQ(code(""), "400 not_json");
  std::string big = "[";
  for (std::size_t i = 0; i <= api::kMaxIngestBatch; ++i) big += (i ? "," : "") + std::string("{\"device_id\":\"x\",\"t\":1}");
  big += "]";
  EXPECT_EQ(code(big), "413 too_many_items");
  EXPECT_EQ(get("/api/v1/readings?device_id=x")["count"], 0);
  auto empty = post("/api/v1/ingest/batch", " [ ] ");
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(body(empty), (json{{"accepted", 0}, {"duplicates", 0}, {"rejected", json::array()}}));
}

TEST_F(IngestTest, BackfilledTimesShowInHistoryStatsAndAggregates) {
  // A device flushing its offline buffer: readings from two days ago.
  auto r = post("/api/v1/ingest/batch", R"([
    {"device_id": "bf", "timestamp": "2026-01-27T10:00:10Z", "temperature": 10},
    {"device_id": "bf", "timestamp": "2026-01-27T10:00:20Z", "temperature": 30},
    {"device_id": "bf", "timestamp": "2026-01-27T11:05:00Z", "temperature": 50}
  ])");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(body(r)["accepted"], 3);
  auto h = get("/api/v1/readings?device_id=bf&from=2026-01-27T00:00:00Z&to=2026-01-28T00:00:00Z");
  ASSERT_EQ(h["count"], 3);
  EXPECT_EQ(h["data"][0]["timestamp"], "2026-01-27T11:05:00.000Z");
  auto s = get("/api/v1/stats?device_id=bf&metric=temperature");
  EXPECT_EQ(s["metrics"]["temperature"]["count"], 3);
  EXPECT_EQ(s["metrics"]["temperature"]["avg"], 30);
  auto a = get("/api/v1/aggregate?device_id=bf&metric=temperature&interval=1h&from=2026-01-27T10:00:00Z&to=2026-01-27T12:00:00Z");
  ASSERT_EQ(a["buckets"].size(), 2u) << a.dump();
  EXPECT_EQ(a["buckets"][0]["metrics"]["temperature"]["count"], 2);
  EXPECT_EQ(a["buckets"][0]["metrics"]["temperature"]["max"], 30);
  EXPECT_EQ(a["buckets"][1]["metrics"]["temperature"]["max"], 50);
}

// ---- 503: no writer takes the messages ---------------------------------------------------

class IngestBackpressureTest : public ::testing::Test {
 protected:
  void build(std::chrono::milliseconds timeout) {
    ApiContext ctx;
    ctx.ingest = &queue_;
    ctx.ingest_timeout = timeout;
    register_api_routes(router_, ctx);
  }
  ingest::SubmissionQueue queue_{{.max_items = 2, .max_bytes = 1 << 20}};  // nobody reads it
  Router router_;
  Client client_{router_, make_route_guard(kAdmin)};
};

TEST_F(IngestBackpressureTest, TheTimeoutAnswers503WithRetryAfterAndNothingIsAnsweredTwice) {
  build(150ms);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = client_.call("POST", "/api/v1/ingest", R"({"device_id": "q", "temperature": 1})", kAsAdmin);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(body(r)["error"]["code"], "ingest_timeout");
  EXPECT_EQ(header(r, "Retry-After"), "5");
  queue_.close();  // the queued submission completes now: its answer must be dropped
  client_.expect_answered_once();
}

TEST_F(IngestBackpressureTest, AFullQueueIs503RetryAfterAtOnce) {
  build(2s);
  auto pending = std::async(std::launch::async, [&] {
    return client_.call("POST", "/api/v1/ingest/batch", R"([{"device_id": "q", "temperature": 1},
                                                            {"device_id": "q", "temperature": 2}])",
                        kAsAdmin);
  });
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (queue_.queued_items() < 2 && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(1ms);
  ASSERT_EQ(queue_.queued_items(), 2u);
  const auto t0 = std::chrono::steady_clock::now();
  auto full = client_.call("POST", "/api/v1/ingest", R"({"device_id": "q", "temperature": 3})", kAsAdmin);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s) << "refused at once, not after the timeout";
  EXPECT_EQ(full.status, 503);
  EXPECT_EQ(body(full)["error"]["code"], "queue_full");
  EXPECT_EQ(header(full, "Retry-After"), "1");
  EXPECT_EQ(pending.get().status, 503);
}

TEST_F(IngestBackpressureTest, AClosedQueueIs503AndNoSubmitterIs503) {
  build(1s);
  queue_.close();
  auto r = client_.call("POST", "/api/v1/ingest", R"({"device_id": "q", "temperature": 1})", kAsAdmin);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(body(r)["error"]["code"], "shutting_down");

  Router bare;
  register_api_routes(bare, ApiContext{});
  Client none(bare, make_route_guard(kAdmin));
  auto off = none.call("POST", "/api/v1/ingest", R"({"device_id": "q", "temperature": 1})", kAsAdmin);
  EXPECT_EQ(off.status, 503);
  EXPECT_EQ(body(off)["error"]["code"], "ingest_unavailable");
}

// ---- pure parts ------------------------------------------------------------------------

TEST(SplitJsonArray, ElementsAsSentWithBracketsAndCommasInsideStrings) {
  auto parts = api::split_json_array(
      " [ {\"a\": \"x,]}\\\"[\"}, [1, {\"b\": [2]}] ,3 , \"s\", nan ]\n", 10);
  ASSERT_TRUE(parts) << parts.error().message;
  ASSERT_EQ(parts->size(), 5u);
  EXPECT_EQ((*parts)[0], "{\"a\": \"x,]}\\\"[\"}");
  EXPECT_EQ((*parts)[1], "[1, {\"b\": [2]}]");
  EXPECT_EQ((*parts)[2], "3");
  EXPECT_EQ((*parts)[3], "\"s\"");
  EXPECT_EQ((*parts)[4], "nan") << "left to the decoder";
  EXPECT_TRUE(api::split_json_array("[]", 10)->empty());
  EXPECT_TRUE(api::split_json_array("\xEF\xBB\xBF[1]", 10));
}

TEST(SplitJsonArray, Errors) {
  auto code = [](std::string_view b) {
    auto p = api::split_json_array(b, 3);
    return p ? std::string("ok") : std::to_string(p.error().status) + " " + p.error().code;
  };
  EXPECT_EQ(code("{}"), "400 not_an_array");
  EXPECT_EQ(code("   "), "400 not_json");
  EXPECT_EQ(code("[1,2"), "400 not_json");
  EXPECT_EQ(code("[1,]"), "400 not_json");
  EXPECT_EQ(code("[,1]"), "400 not_json");
  EXPECT_EQ(code("[{]}"), "400 not_json");
  EXPECT_EQ(code("[\"abc]"), "400 not_json");
  EXPECT_EQ(code("[1] x"), "400 not_json");
  EXPECT_EQ(code("[1}"), "400 not_json");
  EXPECT_EQ(code("[1,2,3]"), "ok");
  EXPECT_EQ(code("[1,2,3,4]"), "413 too_many_items");
}

TEST(OtherDevice, OnlyAStringIdOtherThanTheKeysCounts) {
  EXPECT_EQ(api::other_device(R"({"device_id": "b", "t": 1})", "a"), "b");
  EXPECT_EQ(api::other_device(R"({"device_id": "a", "t": 1})", "a"), std::nullopt);
  EXPECT_EQ(api::other_device(R"({"t": 1})", "a"), std::nullopt);
  EXPECT_EQ(api::other_device(R"([{"t": 1}, {"device_id": "c"}])", "a"), "c");
  EXPECT_EQ(api::other_device("{broken", "a"), std::nullopt);
}

TEST(DeadlineTimer, RunsDueCallbacksInOrderAndNeverACancelledOne) {
  DeadlineTimer timer;
  std::mutex mu;
  std::vector<int> ran;
  auto now = DeadlineTimer::Clock::now();
  auto add = [&](int n) {
    std::lock_guard lock(mu);
    ran.push_back(n);
  };
  timer.schedule(now + 60ms, [&] { add(3); });
  auto cancelled = timer.schedule(now + 20ms, [&] { add(99); });
  timer.schedule(now + 10ms, [&] { add(1); });
  timer.schedule(now + 30ms, [&] { add(2); });
  EXPECT_TRUE(timer.cancel(cancelled));
  EXPECT_FALSE(timer.cancel(cancelled));
  const auto until = now + 5s;
  while (timer.pending() > 0 && DeadlineTimer::Clock::now() < until) std::this_thread::sleep_for(2ms);
  std::this_thread::sleep_for(5ms);
  std::lock_guard lock(mu);
  EXPECT_EQ(ran, (std::vector<int>{1, 2, 3}));
}

TEST(DeadlineTimer, DestroyingItDropsWhatHasNotRun) {
  auto flag = std::make_shared<int>(0);
  {
    DeadlineTimer timer;
    timer.schedule(DeadlineTimer::Clock::now() + 1h, [flag] { *flag = 1; });
  }
  EXPECT_EQ(*flag, 0);
  EXPECT_EQ(flag.use_count(), 1) << "the callback was destroyed";
}

}  // namespace
}  // namespace iotd::http
