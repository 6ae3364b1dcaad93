// The hub without sockets: recording subscribers see what their filters ask for, in commit
// order, with each frame rendered once and shared.
#include "iotd/live/hub.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace iotd::live {
namespace {

using namespace std::chrono_literals;

// A delivery's wire bytes split into its text frames' payloads: every frame must be a
// whole, unmasked, final text frame, and their number must be the delivery's count.
std::vector<std::string> split_frames(const Delivery& d) {
  std::vector<std::string> out;
  const std::string& w = *d.wire;
  std::size_t at = 0;
  while (at < w.size()) {
    EXPECT_EQ(static_cast<std::uint8_t>(w[at]), 0x81) << "not a final text frame at " << at;
    std::uint64_t len = static_cast<std::uint8_t>(w[at + 1]);
    EXPECT_EQ(len & 0x80, 0u) << "a server frame must not be masked";
    std::size_t head = 2;
    if (len == 126) {
      len = (std::uint64_t(static_cast<std::uint8_t>(w[at + 2])) << 8) | static_cast<std::uint8_t>(w[at + 3]);
      head = 4;
    } else if (len == 127) {
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<std::uint8_t>(w[at + 2 + i]);
      head = 10;
    }
    if (at + head + len > w.size()) {
      ADD_FAILURE() << "a frame runs past the delivery's end";
      break;
    }
    out.emplace_back(w, at + head, len);
    at += head + len;
  }
  EXPECT_EQ(out.size(), d.frames);
  return out;
}

class Recorder : public Subscriber {
 public:
  explicit Recorder(StreamFilter f) : filter_(std::move(f)) {}
  const StreamFilter& filter() const override { return filter_; }
  void deliver(const Delivery& d) override {
    auto payloads = split_frames(d);
    std::lock_guard lock(mu_);
    wires_.push_back(d.wire);
    for (auto& p : payloads) frames_.push_back(std::make_shared<const std::string>(std::move(p)));
    cv_.notify_all();
  }
  std::vector<Frame> wires() {
    std::lock_guard lock(mu_);
    return wires_;
  }
  // Waits up to 5 s for `n` frames; returns what arrived.
  std::vector<Frame> wait_for(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 5s, [&] { return frames_.size() >= n; });
    return frames_;
  }
  std::vector<nlohmann::json> json(std::size_t n) {
    std::vector<nlohmann::json> out;
    for (const auto& f : wait_for(n)) out.push_back(nlohmann::json::parse(*f));
    return out;
  }

 private:
  StreamFilter filter_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Frame> frames_;  // the payloads
  std::vector<Frame> wires_;   // the deliveries as received
};

StreamFilter filter(std::multimap<std::string, std::string> q) {
  auto f = parse_filter(q);
  EXPECT_TRUE(f) << f.error();
  return *f;
}

Reading reading(std::string device, std::int64_t ts, std::vector<std::pair<std::string, double>> m) {
  Reading r;
  r.device_id = std::move(device);
  r.ts_ms = ts;
  r.received_at_ms = ts + 5;
  r.has_device_time = true;
  r.metrics = std::move(m);
  return r;
}

ingest::CommitEvent batch(std::vector<Reading> rs, std::int64_t first_id) {
  ingest::CommitEvent ev;
  for (auto& r : rs) {
    ev.readings.push_back(std::move(r));
    ev.reading_ids.push_back(first_id++);
  }
  return ev;
}

Alert alert(std::string device, std::string metric, std::string state, std::int64_t count) {
  Alert a;
  a.id = 7;
  a.device_id = std::move(device);
  a.metric = std::move(metric);
  a.state = std::move(state);
  a.count = count;
  a.threshold_max = 30;
  a.first_value = a.last_value = a.peak_value = 31.5;
  a.raised_ts_ms = 1'700'000'000'000;
  a.updated_ts_ms = a.raised_ts_ms;
  return a;
}

TEST(LiveFrames, ReadingFrameHasTheReadingsShapeWithTypeFirst) {
  auto r = reading("d1", 1'700'000'000'000, {{"humidity", 40.5}, {"temperature", 21.25}});
  const std::string text = reading_frame(r, 42, nullptr);
  EXPECT_EQ(text.rfind(R"({"type":"reading",)", 0), 0u) << text;  // a client may switch on the prefix
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["type"], "reading");
  EXPECT_EQ(j["id"], 42);
  EXPECT_EQ(j["device_id"], "d1");
  EXPECT_EQ(j["timestamp"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(j["received_at"], "2023-11-14T22:13:20.005Z");
  EXPECT_EQ(j["metrics"], (nlohmann::json{{"humidity", 40.5}, {"temperature", 21.25}}));
  auto f = filter({{"metrics", "temperature"}});
  auto only = nlohmann::json::parse(reading_frame(r, 42, &f));
  EXPECT_EQ(only["metrics"], (nlohmann::json{{"temperature", 21.25}}));
}

TEST(LiveFrames, AlertFrameCarriesTheEventAndTheAlertsFields) {
  auto a = alert("d1", "temperature", "active", 1);
  EXPECT_EQ(alert_event(a), "raised");
  a.count = 3;
  EXPECT_EQ(alert_event(a), "updated");
  a.state = "cleared";
  EXPECT_EQ(alert_event(a), "cleared");
  auto j = nlohmann::json::parse(alert_frame(a, "acknowledged"));
  EXPECT_EQ(j["type"], "alert");
  EXPECT_EQ(j["event"], "acknowledged");
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["device_id"], "d1");
  EXPECT_EQ(j["metric"], "temperature");
  EXPECT_EQ(j["state"], "cleared");
  EXPECT_EQ(j["threshold_max"], 30);
  EXPECT_EQ(j["count"], 3);
}

TEST(LiveHub, SubscribersGetTheirDevicesInCommitOrderAndShareFrames) {
  LiveHub hub;
  auto all = std::make_shared<Recorder>(StreamFilter{});
  auto all2 = std::make_shared<Recorder>(StreamFilter{});
  auto d2 = std::make_shared<Recorder>(filter({{"device_id", "d2"}}));
  hub.subscribe(all);
  hub.subscribe(all2);
  hub.subscribe(d2);
  EXPECT_EQ(hub.subscribers(), 3u);
  constexpr int kBatches = 50;
  for (int b = 0; b < kBatches; ++b)
    hub.publish(batch({reading("d1", 1000 + b, {{"v", 2.0 * b}}),
                       reading("d2", 1000 + b, {{"v", 2.0 * b + 1}})},
                      2 * b + 1));
  auto got = all->json(2 * kBatches);
  ASSERT_EQ(got.size(), 2u * kBatches);
  for (int i = 0; i < 2 * kBatches; ++i) {
    EXPECT_EQ(got[i]["id"], i + 1) << "frames out of commit order";
    EXPECT_EQ(got[i]["metrics"]["v"], i);
  }
  auto mine = d2->json(kBatches);
  ASSERT_EQ(mine.size(), static_cast<std::size_t>(kBatches));
  for (const auto& f : mine) EXPECT_EQ(f["device_id"], "d2");
  // Rendered once: both unfiltered clients hold the same wire bytes, delivery for delivery.
  all2->wait_for(2 * kBatches);
  auto a = all->wires(), b = all2->wires();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].get(), b[i].get());
}

TEST(LiveHub, MetricFilterTrimsFramesAndSkipsReadingsWithoutTheMetric) {
  LiveHub hub;
  auto temp = std::make_shared<Recorder>(filter({{"metrics", "temperature"}}));
  hub.subscribe(temp);
  hub.publish(batch({reading("d1", 1, {{"humidity", 50}}),
                     reading("d1", 2, {{"humidity", 51}, {"temperature", 20}})},
                    1));
  hub.publish(batch({reading("d1", 3, {{"temperature", 21}})}, 3));
  auto got = temp->json(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["id"], 2);
  EXPECT_EQ(got[0]["metrics"], (nlohmann::json{{"temperature", 20}}));
  EXPECT_EQ(got[1]["id"], 3);
}

TEST(LiveHub, AlertFramesFollowTheirReadingsAndRespectAlertsFalse) {
  LiveHub hub;
  auto with = std::make_shared<Recorder>(StreamFilter{});
  auto without = std::make_shared<Recorder>(filter({{"alerts", "false"}}));
  auto other = std::make_shared<Recorder>(filter({{"device_id", "d9"}}));
  hub.subscribe(with);
  hub.subscribe(without);
  hub.subscribe(other);
  auto ev = batch({reading("d1", 1, {{"temperature", 31.5}})}, 1);
  ev.alerts.push_back(alert("d1", "temperature", "active", 1));
  hub.publish(std::move(ev));
  auto cleared = batch({reading("d1", 2, {{"temperature", 20}})}, 2);
  cleared.alerts.push_back(alert("d1", "temperature", "cleared", 1));
  hub.publish(std::move(cleared));
  auto acked = alert("d1", "temperature", "cleared", 1);
  acked.acknowledged = true;
  hub.publish_acknowledged(acked);

  auto got = with->json(5);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0]["type"], "reading");
  EXPECT_EQ(got[1]["type"], "alert");
  EXPECT_EQ(got[1]["event"], "raised");
  EXPECT_EQ(got[2]["type"], "reading");
  EXPECT_EQ(got[3]["event"], "cleared");
  EXPECT_EQ(got[4]["event"], "acknowledged");
  EXPECT_EQ(got[4]["acknowledged"], true);
  auto readings_only = without->json(2);
  std::this_thread::sleep_for(50ms);  // an alert frame would have arrived with its batch
  readings_only = without->json(2);
  ASSERT_EQ(readings_only.size(), 2u);
  for (const auto& f : readings_only) EXPECT_EQ(f["type"], "reading");
  EXPECT_TRUE(other->wait_for(0).empty());
}

TEST(LiveHub, UnsubscribedAndDestroyedSubscribersGetNothing) {
  LiveHub hub;
  auto gone = std::make_shared<Recorder>(StreamFilter{});
  auto left = std::make_shared<Recorder>(StreamFilter{});
  auto stays = std::make_shared<Recorder>(StreamFilter{});
  hub.subscribe(gone);
  hub.subscribe(left);
  hub.subscribe(stays);
  hub.unsubscribe(left.get());
  gone.reset();  // the hub holds subscribers weakly
  hub.publish(batch({reading("d1", 1, {{"v", 1}})}, 1));
  EXPECT_EQ(stays->wait_for(1).size(), 1u);
  EXPECT_TRUE(left->wait_for(0).empty());
  hub.stop();
  hub.publish(batch({reading("d1", 2, {{"v", 2}})}, 2));  // after stop: ignored
  hub.unsubscribe(stays.get());                           // still safe after stop
  EXPECT_EQ(stays->wait_for(1).size(), 1u);
}

// The writer's hand-off does not wait for subscribers: publish returns at once even when
// a subscriber is slow, and a hub too far behind drops batches instead of growing.
TEST(LiveHub, PublishNeverWaitsForSubscribersAndTheBacklogIsBounded) {
  struct Slow : Subscriber {
    StreamFilter f;
    std::atomic<int> calls{0};
    const StreamFilter& filter() const override { return f; }
    void deliver(const Delivery&) override {
      calls++;
      std::this_thread::sleep_for(20ms);
    }
  };
  HubOptions o;
  o.max_pending = 10;
  LiveHub hub(o);
  auto slow = std::make_shared<Slow>();
  hub.subscribe(slow);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) hub.publish(batch({reading("d1", i, {{"v", 1}})}, i + 1));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);  // waiting would take 2 s
  EXPECT_GE(hub.batches_dropped(), 50u);
  hub.stop();
  EXPECT_LE(slow->calls.load(), 50);
}

// Pacing (HubOptions): commits that arrive within the pace after a delivery go out
// together, in one delivery per client and in commit order; the first one is not held.
TEST(LiveHub, PacingGathersCommitsThatArriveWithinThePaceIntoOneDelivery) {
  HubOptions o;
  o.pace_per_subscriber = 100ms;
  o.max_pace = 200ms;
  LiveHub hub(o);
  auto one = std::make_shared<Recorder>(StreamFilter{});
  hub.subscribe(one);  // one subscriber: a 100 ms pace
  auto t0 = std::chrono::steady_clock::now();
  hub.publish(batch({reading("d1", 1, {{"v", 1}})}, 1));
  ASSERT_EQ(one->wait_for(1).size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 90ms) << "the first commit was held back";
  // 2 ms apart: unpaced, an idle hub would send each on its own.
  for (int i = 2; i <= 11; ++i) {
    hub.publish(batch({reading("d1", i, {{"v", 1.0 * i}})}, i));
    std::this_thread::sleep_for(2ms);
  }
  auto got = one->json(11);
  ASSERT_EQ(got.size(), 11u);
  for (int i = 0; i < 11; ++i) EXPECT_EQ(got[i]["id"], i + 1);
  EXPECT_EQ(one->wires().size(), 2u) << "the ten later commits should share one delivery";
}

// The writer's lock-free question (docs/architecture.md §7): a device is watched while a
// subscriber names it or takes every device, and no longer once that subscriber leaves.
TEST(LiveHub, WatchingFollowsTheSubscribersDeviceFilters) {
  LiveHub hub;
  EXPECT_FALSE(hub.watching("d1"));
  auto one = std::make_shared<Recorder>(filter({{"device_id", "d1,d2"}}));
  hub.subscribe(one);
  EXPECT_TRUE(hub.watching("d1"));
  EXPECT_TRUE(hub.watching("d2"));
  int unwatched = 0;  // hash buckets may collide; most other ids are not watched
  for (int i = 0; i < 100; ++i) unwatched += hub.watching("other-" + std::to_string(i)) ? 0 : 1;
  EXPECT_GE(unwatched, 90);
  auto all = std::make_shared<Recorder>(filter({{"metrics", "temperature"}}));
  hub.subscribe(all);
  EXPECT_TRUE(hub.watching("other-1"));
  hub.unsubscribe(all.get());
  hub.subscribe(one);  // again: counted once
  hub.unsubscribe(one.get());
  EXPECT_FALSE(hub.watching("d1"));
  EXPECT_FALSE(hub.watching("other-1"));
}

}  // namespace
}  // namespace iotd::live
