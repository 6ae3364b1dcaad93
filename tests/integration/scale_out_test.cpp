// Scale-out (issue 13, docs/scaling.md §2) through the real binary: IOTD_MQTT_SHARE_GROUP in
// check-config, the journal directory's owner, `iotd replay-journal` on PostgreSQL, and two
// instances (IOTD_CLUSTER=on) sharing one subscription on one mosquitto and one PostgreSQL,
// one killed with -9 mid-stream and restarted (issue 13 item 6): every message stored exactly
// once, alarms raised once, the same REST answers on both, and a WebSocket client on the
// survivor gets every stored reading once, the killed instance's share after its restart too.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "support/database_server.hpp"
#include "support/iotd_process.hpp"
#include "support/process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"
#include "support/ws_client.hpp"

namespace iotd::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

bool have_postgresql() {
  const auto b = server_backends();
  return std::find(b.begin(), b.end(), "postgresql") != b.end();
}

// n messages over `devices` devices with device time; metric "n" is a unique sequence number.
// Metric "level" is 100 on the first `alarming` devices (dev0..) and 0 on the others, so a
// rule {"max": 50} raises one alert per alarming device whatever order its readings are
// evaluated in, and none elsewhere.
std::vector<OutMessage> numbered(int first, int count, int devices, int alarming = 0) {
  std::vector<OutMessage> out;
  out.reserve(static_cast<std::size_t>(count));
  const long long base_ms = 1767225600000LL;  // 2026-01-01
  for (int i = first; i < first + count; ++i)
    out.push_back({"sensors/dev" + std::to_string(i % devices) + "/data",
                   "{\"n\":" + std::to_string(i) + ",\"temperature\":" + std::to_string(20 + i % 10) +
                       (alarming > 0 ? std::string(",\"level\":") + (i % devices < alarming ? "100" : "0") : "") +
                       ",\"timestamp\":" + std::to_string(base_ms + i) + "}"});
  return out;
}

std::int64_t stored(const std::string& url) {
  try {
    return db_count(url, "SELECT COUNT(*) FROM messages");
  } catch (const std::exception&) {
    return -1;
  }
}

// The value of an unlabelled Prometheus sample ("iotd_messages_stored_total 123").
long long metric(IotdProcess& iotd, const std::string& name) {
  const auto body = iotd.get("/metrics").body;
  const auto at = body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(body.substr(at + name.size() + 2));
}

bool connected(IotdProcess& iotd) {
  try {
    return iotd.get("/api/v1/health").json()["mqtt"]["connected"] == true;
  } catch (const std::exception&) {
    return false;
  }
}

TEST(ScaleOut, CheckConfigShowsTheShareGroupAndRefusesSharedTemplatesAndBadNames) {
  TempDir dir;
  auto ok = run_iotd(dir.path(), {"check-config"}, {{"IOTD_MQTT_SHARE_GROUP", "iotd"}});
  EXPECT_EQ(ok.code, 0) << ok.out;
  EXPECT_NE(ok.out.find("IOTD_MQTT_SHARE_GROUP=iotd  # env"), std::string::npos) << ok.out;

  auto twice = run_iotd(dir.path(), {"check-config"},
                        {{"IOTD_MQTT_SHARE_GROUP", "iotd"}, {"IOTD_MQTT_TOPICS", "$share/old/sensors/{device_id}/data"}});
  EXPECT_EQ(twice.code, 2) << twice.out;
  EXPECT_NE(twice.out.find("configuration error: IOTD_MQTT_SHARE_GROUP"), std::string::npos) << twice.out;
  EXPECT_NE(twice.out.find("already a shared subscription"), std::string::npos) << twice.out;
  // Without a group, such a template is still the older way to share.
  EXPECT_EQ(run_iotd(dir.path(), {"check-config"}, {{"IOTD_MQTT_TOPICS", "$share/old/sensors/{device_id}/data"}}).code, 0);

  for (const char* bad : {"a/b", "a+", "#"}) {
    auto r = run_iotd(dir.path(), {"check-config"}, {{"IOTD_MQTT_SHARE_GROUP", bad}});
    EXPECT_EQ(r.code, 2) << bad << ": " << r.out;
    EXPECT_NE(r.out.find("IOTD_MQTT_SHARE_GROUP"), std::string::npos) << r.out;
  }
}

TEST(ScaleOut, AJournalDirectoryRecordsItsInstanceAndRefusesAnother) {
  TempDir dir;
  {
    IotdProcess a({dir / "a", "", {{"IOTD_INSTANCE_ID", "node-a"}}});
    ASSERT_EQ(a.stop(), 0);
  }
  EXPECT_EQ(read_file(dir / "a" / "journal" / "instance"), "node-a\n");
  // Another instance id on the same directory: exit 2 and what to do.
  auto r = run_iotd(dir.path(), {}, {{"IOTD_INSTANCE_ID", "node-b"},
                              {"IOTD_JOURNAL_DIR", (dir / "a" / "journal").string()},
                              {"IOTD_DATABASE_URL", sqlite_url(dir / "a" / "iotd.db")},
                              {"IOTD_MQTT_URL", ""},
                              {"IOTD_HTTP_LISTEN", "127.0.0.1:0"}});
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_NE(r.out.find("belongs to instance 'node-a'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("iotd replay-journal"), std::string::npos) << r.out;
  // Its own id still starts.
  {
    IotdProcess again({dir / "a", "", {{"IOTD_INSTANCE_ID", "node-a"}}});
    EXPECT_EQ(again.stop(), 0);
  }
  // Without IOTD_INSTANCE_ID (the host name, new with every container) the directory is
  // taken over with a warning, as before the file existed.
  IotdProcess by_host({dir / "a", "", {{"IOTD_INSTANCE_ID", ""}}});
  EXPECT_EQ(by_host.stop(), 0);
  EXPECT_NE(by_host.log().find("taken over as"), std::string::npos) << by_host.log();
  EXPECT_NE(read_file(dir / "a" / "journal" / "instance"), "node-a\n");
}

// A dead instance's journal, committed by `iotd replay-journal` from elsewhere: the journal
// holds frames it never committed (its database was down), then it is killed for good.
TEST(ScaleOut, ReplayJournalCommitsADeadInstancesJournalOnceAndRenamesIt) {
  if (!have_postgresql()) GTEST_SKIP() << "PostgreSQL is not installed";
  TempDir dir;
  MosquittoServer broker;
  DatabaseServer db("postgresql");
  const std::map<std::string, std::string> env{{"IOTD_DATABASE_URL", db.url()}, {"IOTD_INSTANCE_ID", "dead"}};
  const fs::path journal_dir = dir / "dead" / "journal";
  {
    IotdProcess dead({dir / "dead", broker.url(), env});
    ASSERT_TRUE(eventually([&] { return connected(dead); }, 15s)) << dead.log();
    ASSERT_EQ(publish_all(broker.url(), "replay-pub-1", numbered(0, 500, 10), 1).acknowledged, 500u);
    ASSERT_TRUE(eventually([&] { return stored(db.url()) == 500; }, 30s)) << dead.log();
    db.stop();  // from here on, frames stay in its journal
    ASSERT_EQ(publish_all(broker.url(), "replay-pub-2", numbered(500, 1500, 10), 1).acknowledged, 1500u);
    ASSERT_TRUE(eventually([&] { return metric(dead, "iotd_mqtt_received_total") >= 2000; }, 30s))
        << dead.log();
    dead.kill9();
  }
  db.start();
  ASSERT_EQ(stored(db.url()), 500);
  const fs::path copy = dir / "copy-of-journal";
  fs::copy(journal_dir, copy, fs::copy_options::recursive);

  // A wrong instance id is refused; the recorded one is the default.
  auto wrong = run_iotd(dir.path(), {"replay-journal", "--journal-dir", journal_dir.string(), "--instance-id", "other"},
                        {{"IOTD_DATABASE_URL", db.url()}});
  EXPECT_EQ(wrong.code, 2) << wrong.out;
  EXPECT_NE(wrong.out.find("belongs to instance 'dead'"), std::string::npos) << wrong.out;
  EXPECT_EQ(run_iotd(dir.path(), {"replay-journal"}, {{"IOTD_DATABASE_URL", db.url()}}).code, 2) << "--journal-dir is required";

  auto r = run_iotd(dir.path(), {"replay-journal", "--journal-dir", journal_dir.string()}, {{"IOTD_DATABASE_URL", db.url()}});
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("1500 message(s) stored"), std::string::npos) << r.out;
  expect_each_n_once(db.url(), 2000);
  EXPECT_FALSE(fs::exists(journal_dir)) << "renamed when done";
  bool renamed = false;
  for (const auto& e : fs::directory_iterator(dir / "dead"))
    renamed |= e.path().filename().string().rfind("journal.replayed-", 0) == 0;
  EXPECT_TRUE(renamed) << r.out;

  // Replaying a copy again (the checkpoint covers it) stores nothing twice.
  auto again = run_iotd(dir.path(), {"replay-journal", "--journal-dir", copy.string()}, {{"IOTD_DATABASE_URL", db.url()}});
  ASSERT_EQ(again.code, 0) << again.out;
  expect_each_n_once(db.url(), 2000);
}

// Reads a stream until `expected` reading frames arrived, or it stays silent for `silence`
// (a WsClient's timeout ends its connection, so the limit is long and the count ends the
// loop): the reading frames' ids and "n" values, and the number of other frames.
struct StreamTally {
  std::vector<long long> ids, ns;
  int others = 0;
  bool closed = false;
  std::string error;
};

void tally(WsClient& ws, std::size_t expected, std::chrono::milliseconds silence, StreamTally& out) {
  while (out.ids.size() < expected) {
    auto m = ws.receive(silence);
    if (!m) {
      out.closed = ws.closed();
      out.error = ws.error();
      return;
    }
    const auto f = nlohmann::json::parse(*m);
    if (f.value("type", std::string()) != "reading") {
      ++out.others;
      continue;
    }
    out.ids.push_back(f.at("id").get<long long>());
    out.ns.push_back(static_cast<long long>(f.at("metrics").at("n").get<double>()));
  }
}

// Two instances with IOTD_CLUSTER=on in one share group on one mosquitto and one PostgreSQL;
// instance b is killed with -9 mid-stream and restarted (issue 13 item 6). `version`:
// IOTD_MQTT_VERSION of both.
void two_instances_one_killed(const std::string& version) {
  if (!have_postgresql()) GTEST_SKIP() << "PostgreSQL is not installed";
  TempDir dir;
  MosquittoServer broker;
  DatabaseServer db("postgresql");
  auto env_of = [&](const std::string& id) {
    return std::map<std::string, std::string>{{"IOTD_DATABASE_URL", db.url()},
                                              {"IOTD_MQTT_SHARE_GROUP", "iotd"},
                                              {"IOTD_MQTT_VERSION", version},
                                              {"IOTD_CLUSTER", "on"},
                                              {"IOTD_INSTANCE_ID", id},
                                              {"IOTD_MQTT_CLIENT_ID", "iotd-scale-" + id},
                                              // the stream client below takes all 20000 readings
                                              // on a shared 2-core machine: room to lag
                                              {"IOTD_WS_QUEUE_FRAMES", "100000"}};
  };
  IotdProcess a({dir / "a", broker.url(), env_of("a")});
  IotdProcess b({dir / "b", broker.url(), env_of("b")});
  ASSERT_TRUE(eventually([&] { return connected(a) && connected(b); }, 15s)) << a.log() << b.log();
  EXPECT_TRUE(eventually(
      [&] { return a.log().find("subscribed to $share/iotd/control/+/ack, $share/iotd/sensors/+/data") != std::string::npos; },
      5s))
      << a.log();

  // A rule set on a, relayed to b (docs/architecture.md §21): level above 50 is an alarm.
  const std::map<std::string, std::string> admin{{"X-API-Key", kTestAdminKey}, {"Content-Type", "application/json"}};
  auto rule = a.request("PUT", "/api/v1/rules/level", R"({"max": 50})", admin);
  ASSERT_EQ(rule.status, 201) << rule.body;  // created
  std::this_thread::sleep_for(1s);  // the relay's bound: a notification (<= 100 ms) and b's reload

  // A stream client on the survivor-to-be, subscribed before the kill: every device.
  WsClient ws(a.port());
  ASSERT_TRUE(ws.connect("/api/v1/stream?alerts=false")) << ws.error() << " " << ws.body();
  ASSERT_TRUE(eventually([&] { return a.get("/api/v1/health").json()["counters"]["ws_clients"] == 1; }, 5s));
  constexpr int kPublishers = 4, kEach = 5000, kTotal = kPublishers * kEach, kDevices = 40, kAlarming = 5;
  StreamTally seen;
  std::thread reader([&] { tally(ws, kTotal, 45s, seen); });
  struct Joiner {  // the reader ends on every path out of this function (after 45 s at most)
    std::thread& t;
    ~Joiner() {
      if (t.joinable()) t.join();
    }
  } joiner{reader};

  const auto all = numbered(0, kTotal, kDevices, kAlarming);
  std::vector<std::thread> threads;
  std::vector<PublishResult> results(kPublishers);
  for (int p = 0; p < kPublishers; ++p)
    threads.emplace_back([&, p] {
      std::vector<OutMessage> mine(all.begin() + p * kEach, all.begin() + (p + 1) * kEach);
      results[p] = publish_all(broker.url(), "scale-pub-" + std::to_string(p), mine, 1, 20);
    });
  ASSERT_TRUE(eventually([&] { return metric(b, "iotd_messages_stored_total") >= 1000; }, 30s)) << b.log();
  const auto b_before_kill = metric(b, "iotd_messages_stored_total");
  b.kill9();
  const auto at_kill = stored(db.url());
  std::this_thread::sleep_for(300ms);
  b.start();
  for (auto& t : threads) t.join();
  for (const auto& r : results) ASSERT_EQ(r.acknowledged, static_cast<std::size_t>(kEach));
  EXPECT_LT(at_kill, kTotal) << "the kill should land mid-stream";

  ASSERT_TRUE(eventually([&] { return stored(db.url()) >= kTotal; }, 60s)) << a.log() << b.log();
  std::this_thread::sleep_for(500ms);  // a duplicate would land now
  expect_each_n_once(db.url(), kTotal);

  // Both served part of the stream: the broker really split it; b stored some after its restart.
  const auto a_stored = metric(a, "iotd_messages_stored_total");
  const auto b_after = metric(b, "iotd_messages_stored_total");  // since the restart
  EXPECT_GT(a_stored, 0);
  EXPECT_GT(b_before_kill, 0);
  EXPECT_GT(b_after, 0) << "the restarted instance stored nothing: its share was not tested";
  EXPECT_LT(a_stored, kTotal) << "a stored everything: the subscription was not shared";

  // The survivor's stream client got every stored reading exactly once, b's (before the kill
  // and after its restart) through the relay: frames == stored rows, by id and by "n".
  const auto ids_sum = db_count(db.url(), "SELECT COALESCE(SUM(id), 0) FROM messages");
  const auto ids_max = db_count(db.url(), "SELECT COALESCE(MAX(id), 0) FROM messages");
  reader.join();
  EXPECT_TRUE(seen.error.empty()) << seen.error << (seen.closed ? " (closed by the server)\n" : "\n")
                                  << metric(a, "iotd_ws_frames_sent_total") << " frames sent\n"
                                  << a.log();
  if (seen.error.empty()) {
    auto extra = ws.receive(1s);  // a frame sent twice would arrive now
    EXPECT_FALSE(extra) << "a frame after all " << kTotal << ": " << *extra;
  }
  std::set<long long> ids(seen.ids.begin(), seen.ids.end()), ns(seen.ns.begin(), seen.ns.end());
  EXPECT_EQ(seen.ids.size(), static_cast<std::size_t>(kTotal)) << "reading frames (twice if more)";
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kTotal)) << "distinct ids (missed if fewer)";
  EXPECT_EQ(ns.size(), static_cast<std::size_t>(kTotal));
  long long sum = 0;
  for (auto id : ids) sum += id;
  EXPECT_EQ(sum, ids_sum) << "the frames' ids are the stored rows' ids";
  if (!ids.empty()) {
    EXPECT_LE(*ids.rbegin(), ids_max);
  }

  // Alarms raised once: one alert per alarming device whichever instance (or the replay)
  // evaluated its readings, none on the others.
  const auto alerts = [&](int d) {
    return db_count(db.url(), "SELECT COUNT(*) FROM alerts al JOIN devices dv ON dv.pk = al.device_pk "
                              "WHERE dv.device_id = 'dev" + std::to_string(d) + "' AND al.metric = 'level'");
  };
  for (int d = 0; d < kDevices; ++d) EXPECT_EQ(alerts(d), d < kAlarming ? 1 : 0) << "dev" << d;
  EXPECT_EQ(db_count(db.url(), "SELECT COUNT(*) FROM alerts"), kAlarming);
  EXPECT_EQ(db_count(db.url(), "SELECT COUNT(*) FROM alerts WHERE state = 'active'"), kAlarming);
  EXPECT_EQ(db_count(db.url(), "SELECT COALESCE(SUM(count), 0) FROM alerts"), kTotal / kDevices * kAlarming)
      << "every reading of an alarming device counted once on its alert";
  EXPECT_EQ(seen.others, 0) << "alerts=false: reading frames only";

  // Both instances serve the same answers: database-backed ones, and readings/latest (each
  // instance's memory, kept current by the relay).
  for (int d = 0; d < kDevices; ++d) {
    const std::string dev = "dev" + std::to_string(d);
    const std::string l = "/api/v1/readings/latest?device_id=" + dev;
    auto la = a.get(l), lb = b.get(l);
    ASSERT_EQ(la.status, 200) << la.body;
    EXPECT_EQ(la.body, lb.body) << l;
    const std::string s = "/api/v1/stats?device_id=" + dev + "&metric=n&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z";
    auto sa = a.get(s), sb = b.get(s);
    EXPECT_EQ(sa.status, 200) << sa.body;
    EXPECT_EQ(sa.body, sb.body) << s;
    if (d % 7 != 0) continue;
    const std::string q = "/api/v1/readings?device_id=" + dev + "&limit=5";
    auto ra = a.get(q), rb = b.get(q);
    ASSERT_EQ(ra.status, 200) << ra.body;
    EXPECT_EQ(ra.json()["data"], rb.json()["data"]) << q;
    const std::string al = "/api/v1/alerts?device_id=" + dev;
    EXPECT_EQ(a.get(al).body, b.get(al).body) << al;
  }
  std::printf("[ scale-out MQTT %s, IOTD_CLUSTER=on ] %d messages: a stored %lld, b %lld before kill -9 and %lld "
              "after restart; %lld in the database at the kill; exactly once; %d alerts; the survivor's stream "
              "client got %zu reading frames (%zu distinct)\n",
              version.c_str(), kTotal, a_stored, b_before_kill, b_after, static_cast<long long>(at_kill), kAlarming,
              seen.ids.size(), ids.size());
}

// A member stopped for good keeps its persistent session, and mosquitto keeps giving that
// session its share of the group. Retiring it (docs/scaling.md §2): run it once more with a
// short IOTD_MQTT_SESSION_EXPIRY, which stores what its session held and lets the session end.
TEST(ScaleOut, AStoppedMembersSessionKeepsItsShareUntilTheMemberIsRetired) {
  if (!have_postgresql()) GTEST_SKIP() << "PostgreSQL is not installed";
  TempDir dir;
  MosquittoServer broker;
  DatabaseServer db("postgresql");
  auto env_of = [&](const std::string& id, const std::string& expiry) {
    return std::map<std::string, std::string>{{"IOTD_DATABASE_URL", db.url()},
                                              {"IOTD_MQTT_SHARE_GROUP", "iotd"},
                                              {"IOTD_INSTANCE_ID", id},
                                              {"IOTD_MQTT_CLIENT_ID", "iotd-retire-" + id},
                                              {"IOTD_MQTT_SESSION_EXPIRY", expiry}};
  };
  IotdProcess a({dir / "a", broker.url(), env_of("a", "86400s")});
  {
    IotdProcess b({dir / "b", broker.url(), env_of("b", "86400s")});
    ASSERT_TRUE(eventually([&] { return connected(a) && connected(b); }, 15s)) << a.log() << b.log();
    ASSERT_EQ(b.stop(), 0);
  }
  ASSERT_EQ(publish_all(broker.url(), "retire-pub-1", numbered(0, 1000, 10), 1).acknowledged, 1000u);
  ASSERT_TRUE(eventually([&] { return stored(db.url()) >= 400; }, 30s)) << a.log();
  std::this_thread::sleep_for(1s);
  const auto while_away = stored(db.url());
  EXPECT_LT(while_away, 1000) << "the stopped member's session got no share";
  {
    // Retire b: its queued share is stored, then its session ends 1 s after it leaves.
    IotdProcess b({dir / "b", broker.url(), env_of("b", "1s")});
    ASSERT_TRUE(eventually([&] { return stored(db.url()) >= 1000; }, 30s)) << b.log();
    ASSERT_EQ(b.stop(), 0);
  }
  std::this_thread::sleep_for(2500ms);
  ASSERT_EQ(publish_all(broker.url(), "retire-pub-2", numbered(1000, 1000, 10), 1).acknowledged, 1000u);
  ASSERT_TRUE(eventually([&] { return stored(db.url()) >= 2000; }, 30s)) << "a alone gets everything now\n"
                                                                           << a.log();
  expect_each_n_once(db.url(), 2000);
  std::printf("[ retire ] %lld of 1000 stored while the stopped member's session held its share\n",
              static_cast<long long>(while_away));
}

TEST(ScaleOut, TwoInstancesShareTheStreamAndAKilledOneLosesNothingMqtt5) { two_instances_one_killed("5"); }

TEST(ScaleOut, TwoInstancesShareTheStreamAndAKilledOneLosesNothingMqtt311) { two_instances_one_killed("3.1.1"); }

}  // namespace
}  // namespace iotd::test
