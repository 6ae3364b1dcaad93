// The writer against a real journal and a real SQLite file.
#include "iotd/ingest/writer.hpp"

#include <gtest/gtest.h>
#include <soci/soci.h>

#include <atomic>
#include <future>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <thread>

#include "iotd/core/time.hpp"
#include "iotd/ingest/journal_input.hpp"
#include "iotd/ingest/submission_queue.hpp"
#include "iotd/storage/database.hpp"
#include "support/temp_dir.hpp"

namespace iotd::ingest {
namespace {

using namespace std::chrono_literals;

class WriterTest : public ::testing::Test {
 protected:
  test::TempDir dir;
  storage::ConnectionSpec spec = storage::parse_database_url("sqlite:///" + (dir / "t.db").string());
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<JournalInput> journal_input;
  std::unique_ptr<SubmissionQueue> http;  // a second input, as app wires it
  std::unique_ptr<storage::WriteStore> store;
  std::unique_ptr<storage::Repository> repo;
  storage::LatestCache latest;
  Counters counters;
  CountingAckSink acks{counters};
  CommandAckSink* ack_sink = &acks;  // what open() wires
  // Declared before the writer so they outlive it: the writer thread may still be calling
  // the commit listener when a test body ends.
  std::vector<CommitEvent> events;
  std::mutex events_mu;
  std::unique_ptr<Writer> writer;

  void SetUp() override {
    storage::migrate(spec);
    repo = storage::make_repository(spec, 2);
    open();
  }

  WriterOptions options() {
    WriterOptions o;
    o.instance_id = "test";
    o.topics = pipeline::parse_topic_templates("control/{device_id}/ack", pipeline::MessageKind::command_ack);
    for (auto& t : pipeline::parse_topic_templates("sensors/{device_id}/data,iot/{device_id}/telemetry"))
      o.topics.push_back(t);
    o.max_batch = 500;
    return o;
  }

  void open(WriterOptions o) {
    journal::JournalOptions jo;
    jo.dir = dir / "journal";
    jo.segment_bytes = 256 * 1024;
    journal = std::make_unique<journal::Journal>(jo);
    journal_input = std::make_unique<JournalInput>(*journal);
    http = std::make_unique<SubmissionQueue>();
    store = storage::make_write_store(spec);
    writer = std::make_unique<Writer>(std::move(o), std::vector<WriterInput*>{journal_input.get(), http.get()},
                                      *store, latest, counters);
    writer->set_ack_sink(ack_sink);
    writer->set_commit_listener([this](const CommitEvent& e) {
      std::lock_guard lock(events_mu);
      events.push_back(e);
    });
    writer->start();
  }
  void open() { open(options()); }

  void close() {
    writer->stop(5s);
    writer.reset();
    http->close();
    http.reset();
    store.reset();
    journal_input.reset();
    journal.reset();
  }

  void append(const std::string& topic, const std::string& payload, std::uint8_t flags = 0) {
    ASSERT_EQ(journal->append(topic, payload, time::now_ms(), flags), journal::AppendResult::appended);
  }

  void wait_committed() {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (writer->committed_seq() < journal->last_seq()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "writer did not catch up";
      std::this_thread::sleep_for(5ms);
    }
  }

  std::vector<storage::StoredReading> all_readings() {
    storage::ReadingQuery q;
    q.limit = 10000;
    return repo->readings(q).rows;
  }
};

TEST_F(WriterTest, CommitsDecodedReadingsAndUpdatesLatest) {
  append("sensors/ESP32_001/data", R"({"temperature": 24.5, "humidity": 55, "timestamp": "2026-01-29T14:30:45Z"})");
  append("iot/device-003/telemetry", R"({"device_id": "device-003", "voltage": 231.45, "current": 4.2})");
  wait_committed();
  auto rows = all_readings();
  ASSERT_EQ(rows.size(), 2u);
  auto esp = rows[0].device_id == "ESP32_001" ? rows[0] : rows[1];
  EXPECT_EQ(esp.ts_ms, *time::parse_iso8601_ms("2026-01-29T14:30:45Z"));
  EXPECT_NE(esp.metrics_json.find("\"temperature\":24.5"), std::string::npos) << esp.metrics_json;
  auto l = latest.device("device-003");
  ASSERT_TRUE(l);
  EXPECT_EQ(l->metrics.at("voltage").value, 231.45);
  EXPECT_EQ(counters.messages_stored.load(), 2u);
}

TEST_F(WriterTest, BadPayloadsGoToRejectsWithReasonAndCounter) {
  append("iot/device-001/telemetry", "not-json");
  append("sensors/ESP32_001/data", R"({"data": "01 03 0C 32"})");
  append("sensors/ESP32_001/data", R"({"temperature": 20})");
  wait_committed();
  EXPECT_EQ(all_readings().size(), 1u);
  storage::RejectQuery q;
  auto rejects = repo->rejects(q);
  ASSERT_EQ(rejects.size(), 2u);
  std::set<std::string> reasons{rejects[0].reason, rejects[1].reason};
  EXPECT_EQ(reasons, (std::set<std::string>{"not_json", "no_metrics"}));
  for (const auto& r : rejects) {
    if (r.reason == "not_json") {
      EXPECT_EQ(r.payload, "not-json");
      EXPECT_EQ(r.topic, "iot/device-001/telemetry");
      EXPECT_EQ(r.source, "mqtt");
    }
  }
  EXPECT_EQ(counters.rejects_total(), 2u);
}

TEST_F(WriterTest, AlarmRaisedUpdatedClearedInTheSameTransactionsAsReadings) {
  append("sensors/d1/data", R"({"temperature": 57.2, "timestamp": 1767225600})");
  append("sensors/d1/data", R"({"temperature": 63.0, "timestamp": 1767225660})");
  wait_committed();
  storage::AlertQuery aq;
  auto alerts = repo->alerts(aq);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].state, "active");
  EXPECT_EQ(alerts[0].count, 2);
  EXPECT_EQ(alerts[0].peak_value, 63.0);
  EXPECT_EQ(alerts[0].raised_ts_ms, 1767225600000);
  append("sensors/d1/data", R"({"temperature": 20.0, "timestamp": 1767225720})");
  wait_committed();
  alerts = repo->alerts(aq);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].state, "cleared");
  EXPECT_EQ(alerts[0].cleared_ts_ms, 1767225720000);
  EXPECT_EQ(counters.alerts_raised.load(), 1u);
  EXPECT_EQ(counters.alerts_cleared.load(), 1u);
}

TEST_F(WriterTest, ActiveAlarmSurvivesRestartAndIsNotRaisedTwice) {
  append("sensors/d1/data", R"({"temperature": 57.2, "timestamp": 1767225600})");
  wait_committed();
  close();
  open();
  append("sensors/d1/data", R"({"temperature": 58.0, "timestamp": 1767225660})");
  wait_committed();
  storage::AlertQuery aq;
  auto alerts = repo->alerts(aq);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].count, 2);
}

TEST_F(WriterTest, RestartResumesAtCheckpointWithoutDuplicates) {
  for (int i = 0; i < 300; ++i)
    append("sensors/d" + std::to_string(i % 7) + "/data", R"({"n": )" + std::to_string(i) + "}");
  wait_committed();
  close();
  open();
  for (int i = 300; i < 400; ++i)
    append("sensors/d" + std::to_string(i % 7) + "/data", R"({"n": )" + std::to_string(i) + "}");
  wait_committed();
  EXPECT_EQ(all_readings().size(), 400u);
}

TEST_F(WriterTest, UncommittedFramesAreReplayedAfterAnUncleanStop) {
  // Frames appended while no writer runs (as after kill -9 between append and commit).
  close();
  {
    journal::JournalOptions jo;
    jo.dir = dir / "journal";
    jo.segment_bytes = 256 * 1024;
    journal::Journal j(jo);
    for (int i = 0; i < 50; ++i)
      j.append("sensors/x/data", R"({"n": )" + std::to_string(i) + "}", time::now_ms(), 0);
  }
  open();
  wait_committed();
  EXPECT_EQ(all_readings().size(), 50u);
}

TEST_F(WriterTest, ContentDuplicatesAreStoredOnce) {
  const std::string msg = R"({"v":2,"device_id":"dc-meter-dup","ts":"2026-02-12T10:00:00Z","seq":5,"measurements":[{"ts":"2026-02-12T10:00:00Z","type":"voltage_dc","val":750.0,"unit":"V"}]})";
  append("iot/dc-meter-dup/telemetry", msg);
  append("iot/dc-meter-dup/telemetry", msg);  // an ESP32 re-flushing its buffer
  wait_committed();
  EXPECT_EQ(all_readings().size(), 1u);
  EXPECT_EQ(counters.messages_deduplicated.load(), 1u);
  // Same time, different seq: a distinct message, kept.
  std::string other = msg;
  other.replace(other.find("\"seq\":5"), 7, "\"seq\":6");
  append("iot/dc-meter-dup/telemetry", other);
  wait_committed();
  EXPECT_EQ(all_readings().size(), 2u);
}

TEST_F(WriterTest, DeviceLimitRejectsNewDevicesOnly) {
  close();
  auto o = options();
  o.max_devices = 2;
  open(o);
  append("sensors/a/data", R"({"t": 1})");
  append("sensors/b/data", R"({"t": 1})");
  append("sensors/c/data", R"({"t": 1})");
  append("sensors/a/data", R"({"t": 2})");
  wait_committed();
  EXPECT_EQ(all_readings().size(), 3u);
  auto rejects = repo->rejects({});
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].reason, "device_limit");
  EXPECT_EQ(rejects[0].topic, "sensors/c/data");
}

TEST_F(WriterTest, RetainedFramesAreIgnoredButCheckpointed) {
  append("sensors/a/data", R"({"t": 1})", journal::kRetained);
  append("sensors/a/data", R"({"t": 2})");
  wait_committed();
  EXPECT_EQ(all_readings().size(), 1u);
  EXPECT_EQ(counters.mqtt_retained_ignored.load(), 1u);
}

TEST_F(WriterTest, CommitListenerSeesStoredReadingsAndAlerts) {
  append("sensors/hot/data", R"({"temperature": 99})");
  wait_committed();
  std::lock_guard lock(events_mu);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].readings.at(0).device_id, "hot");
  ASSERT_EQ(events[0].alerts.size(), 1u);
  EXPECT_GT(events[0].alerts[0].id, 0);
}

TEST_F(WriterTest, CommitDelayGroupsATrickleIntoOneTransaction) {
  close();
  auto o = options();
  o.commit_delay = 1000ms;  // far longer than the trickle below, so the test has no race
  open(o);
  const auto commits_before = counters.commits.load();
  for (int i = 0; i < 10; ++i) {
    append("sensors/trickle/data", R"({"n": )" + std::to_string(i) + "}");
    std::this_thread::sleep_for(2ms);
  }
  wait_committed();
  EXPECT_EQ(all_readings().size(), 10u);
  EXPECT_EQ(counters.commits.load() - commits_before, 1u) << "ten messages 2 ms apart, one transaction";
}

TEST_F(WriterTest, StopDuringTheCommitDelayCommitsAtOnce) {
  close();
  auto o = options();
  o.commit_delay = 1000ms;
  open(o);
  append("sensors/d/data", R"({"n": 1})");
  std::this_thread::sleep_for(20ms);  // the decode thread is now waiting for company
  const auto t0 = std::chrono::steady_clock::now();
  const auto last = journal->last_seq();
  writer->stop(10s);
  EXPECT_EQ(writer->committed_seq(), last);
  EXPECT_EQ(all_readings().size(), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 900ms) << "stop did not wait out the delay";
}

TEST_F(WriterTest, StopDrainsEverythingAppended) {
  for (int i = 0; i < 5000; ++i) append("sensors/d/data", R"({"n": )" + std::to_string(i) + "}");
  auto last = journal->last_seq();
  writer->stop(10s);
  EXPECT_EQ(writer->committed_seq(), last);
  EXPECT_EQ(all_readings().size(), 5000u);
}

TEST_F(WriterTest, PoisonedMessageGoesToRejectsWithoutStallingTheRest) {
  // A real permanent database error for exactly one row: a trigger that aborts its insert.
  close();
  {
    soci::session s("sqlite3", "db=" + (dir / "t.db").string() + " timeout=10");
    s << "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.metrics LIKE '%666%' "
         "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END";
  }
  open();
  for (int i = 0; i < 10; ++i)
    append("sensors/p" + std::to_string(i) + "/data", R"({"n": )" + std::to_string(i == 5 ? 666 : i) + "}");
  wait_committed();
  EXPECT_EQ(all_readings().size(), 9u);
  auto rejects = repo->rejects({});
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].reason, "store_error");
  EXPECT_EQ(rejects[0].topic, "sensors/p5/data");
  EXPECT_NE(rejects[0].detail.find("poisoned row"), std::string::npos) << rejects[0].detail;
  // The writer goes on.
  append("sensors/after/data", R"({"n": 11})");
  wait_committed();
  EXPECT_EQ(all_readings().size(), 10u);
  EXPECT_TRUE(writer->database_ok());
}

TEST_F(WriterTest, TransientLockIsRetriedUntilTheDatabaseIsFreeAgain) {
  close();
  spec = storage::parse_database_url("sqlite:///" + (dir / "t.db").string() + "?timeout=1");
  open();
  soci::session blocker("sqlite3", "db=" + (dir / "t.db").string() + " timeout=10");
  blocker << "BEGIN EXCLUSIVE";
  for (int i = 0; i < 20; ++i) append("sensors/l/data", R"({"n": )" + std::to_string(i) + "}");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (writer->database_ok() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(writer->database_ok()) << "a held write lock must show as a database problem";
  EXPECT_NE(writer->last_error().find("locked"), std::string::npos) << writer->last_error();
  EXPECT_EQ(writer->committed_seq(), 0u);
  blocker << "ROLLBACK";
  wait_committed();
  EXPECT_TRUE(writer->database_ok());
  EXPECT_EQ(all_readings().size(), 20u);
  EXPECT_GE(counters.commit_failures.load(), 1u);
}

// A store whose device lookups fail (transiently) a number of times, as when the database
// goes away between two batches: the lookup happens before the transaction, in prepare().
class FlakyDeviceLookups final : public storage::WriteStore {
 public:
  explicit FlakyDeviceLookups(storage::WriteStore& inner) : inner_(inner) {}
  std::atomic<int> failures{0};

  std::optional<storage::Checkpoint> load_checkpoint(const std::string& id) override { return inner_.load_checkpoint(id); }
  std::vector<storage::Alert> active_alerts() override { return inner_.active_alerts(); }
  std::vector<storage::Rule> rules() override { return inner_.rules(); }
  std::vector<storage::DeviceLatest> load_latest() override { return inner_.load_latest(); }
  bool device_known(const std::string& device_id) override {
    if (failures > 0) {
      --failures;
      transient_ = true;
      throw std::runtime_error("server closed the connection unexpectedly (simulated)");
    }
    transient_ = false;
    return inner_.device_known(device_id);
  }
  std::int64_t device_count() override { return inner_.device_count(); }
  void begin() override { transient_ = false; inner_.begin(); }
  std::vector<std::optional<std::int64_t>> insert_messages(std::span<const Reading> rs) override {
    return inner_.insert_messages(rs);
  }
  std::int64_t insert_alert(const storage::Alert& a) override { return inner_.insert_alert(a); }
  void update_alert(const storage::Alert& a) override { inner_.update_alert(a); }
  void insert_rejects(std::span<const storage::RejectRecord> rs) override { inner_.insert_rejects(rs); }
  void save_checkpoint(const std::string& id, const storage::Checkpoint& cp) override { inner_.save_checkpoint(id, cp); }
  std::vector<storage::AckMatch> apply_command_acks(std::span<const storage::CommandAckUpdate> acks) override {
    return inner_.apply_command_acks(acks);
  }
  void commit() override { inner_.commit(); }
  void rollback() noexcept override { inner_.rollback(); }
  bool last_error_transient() const override { return transient_ || inner_.last_error_transient(); }

 private:
  storage::WriteStore& inner_;
  bool transient_ = false;
};

TEST_F(WriterTest, TransientFailureBeforeTheTransactionIsRetriedAndTheWriterKeepsRunning) {
  close();
  journal::JournalOptions jo;
  jo.dir = dir / "journal";
  journal = std::make_unique<journal::Journal>(jo);
  store = storage::make_write_store(spec);
  FlakyDeviceLookups flaky(*store);
  flaky.failures = 3;
  journal_input = std::make_unique<JournalInput>(*journal);
  writer = std::make_unique<Writer>(options(), std::vector<WriterInput*>{journal_input.get()}, flaky, latest,
                                    counters);
  writer->start();
  append("sensors/newdev/data", R"({"n": 1})");
  wait_committed();
  EXPECT_EQ(flaky.failures.load(), 0);
  EXPECT_GE(counters.commit_failures.load(), 3u);
  EXPECT_TRUE(writer->database_ok());
  append("sensors/newdev/data", R"({"n": 2})");
  wait_committed();
  EXPECT_EQ(all_readings().size(), 2u);
  writer->stop(5s);
  writer.reset();
}

}  // namespace
}  // namespace iotd::ingest

namespace iotd::ingest {
namespace {

using namespace std::chrono_literals;

// Command acks on their own topic template: routed to the ack sink, never telemetry.
TEST_F(WriterTest, CommandAckGoesToTheAckSinkNotToRejectsAndTelemetryStillStores) {
  append("control/esp-7/ack", R"({"command_id": "c-1", "status": "ok"})");
  append("control/esp-7/ack", R"({"command_id": 42, "status": "error", "message": "relay stuck"})");
  append("sensors/esp-7/data", R"({"temperature": 21.5})");
  wait_committed();
  EXPECT_TRUE(repo->rejects({}).empty()) << repo->rejects({}).front().reason;
  EXPECT_EQ(counters.command_acks.load(), 2u);
  auto rows = all_readings();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].device_id, "esp-7");
}

TEST_F(WriterTest, MalformedCommandAckIsRejectedWithAClearReason) {
  append("control/esp-7/ack", R"({"status": "ok"})");
  append("control/esp-7/ack", R"({"command_id": "c-2", "status": "done"})");
  wait_committed();
  auto rejects = repo->rejects({});
  ASSERT_EQ(rejects.size(), 2u);
  for (const auto& r : rejects) {
    EXPECT_EQ(r.reason, "bad_command_ack");
    EXPECT_EQ(r.source, "mqtt");
    EXPECT_EQ(r.topic, "control/esp-7/ack");
  }
  std::set<std::string> details{rejects[0].detail, rejects[1].detail};
  EXPECT_TRUE(details.count("command ack lacks \"command_id\"")) << *details.begin();
  EXPECT_EQ(counters.command_acks.load(), 0u);
}

// A sink that records what it is given inside the transaction and refuses one command id
// for good (as a constraint violation in the commands table would).
class RecordingAckSink final : public CommandAckSink {
 public:
  std::vector<std::string> applied, committed_ids;
  void apply(storage::WriteStore&, std::span<const CommandAck> acks) override {
    for (const auto& a : acks) {
      if (a.command_id == "poison") throw std::runtime_error("no such command: poison");
      applied.push_back(a.command_id);
    }
  }
  void committed(std::span<const CommandAck> acks) override {
    for (const auto& a : acks) committed_ids.push_back(a.command_id);
  }
};

TEST_F(WriterTest, AnAckTheSinkRefusesGoesToRejectsAndTheRestOfTheBatchCommits) {
  close();
  RecordingAckSink sink;
  ack_sink = &sink;
  auto o = options();
  o.commit_delay = 200ms;  // one batch for all three
  open(o);
  append("control/d/ack", R"({"command_id": "a", "status": "ok"})");
  append("control/d/ack", R"({"command_id": "poison", "status": "ok"})");
  append("sensors/d/data", R"({"n": 1})");
  wait_committed();
  EXPECT_EQ(sink.committed_ids, (std::vector<std::string>{"a"}));
  EXPECT_EQ(all_readings().size(), 1u);
  auto rejects = repo->rejects({});
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].reason, "store_error");
  EXPECT_NE(rejects[0].detail.find("no such command"), std::string::npos) << rejects[0].detail;
  close();  // before `sink` goes
}

// HTTP submissions: completion after the commit, one outcome per item.
struct Completion {
  std::promise<SubmitResult> promise;
  std::future<SubmitResult> future = promise.get_future();
  SubmitCompletion callback() {
    return [this](SubmitResult r) { promise.set_value(std::move(r)); };
  }
};

IngestItem http_item(std::string payload, std::string device_id = {}) {
  IngestItem i;
  i.payload = std::move(payload);
  i.device_id = std::move(device_id);
  i.received_at_ms = time::now_ms();
  return i;
}

TEST_F(WriterTest, HttpSubmissionCompletesAfterItsCommitWithAnOutcomePerItem) {
  const std::string reading = R"({"device_id": "h1", "temperature": 20.5, "timestamp": "2026-01-29T14:30:45Z"})";
  std::size_t rows_at_completion = 0;
  std::promise<SubmitResult> done;
  auto fut = done.get_future();
  std::vector<IngestItem> items;
  items.push_back(http_item(reading));
  items.push_back(http_item("not-json"));
  items.push_back(http_item(reading));  // a client's retry: content dedup
  ASSERT_EQ(http->submit(std::move(items), std::chrono::steady_clock::now() + 10s,
                         [&](SubmitResult r) {
                           rows_at_completion = all_readings().size();  // committed already?
                           done.set_value(std::move(r));
                         }),
            Admission::accepted);
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  auto r = fut.get();
  EXPECT_EQ(r.status, SubmitStatus::committed);
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.items[0].status, ItemStatus::stored);
  EXPECT_EQ(r.items[1].status, ItemStatus::rejected);
  EXPECT_EQ(r.items[1].reason, "not_json");
  EXPECT_EQ(r.items[2].status, ItemStatus::duplicate);
  EXPECT_EQ(rows_at_completion, 1u);
  auto rejects = repo->rejects({});
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].source, "http");
  EXPECT_EQ(rejects[0].payload, "not-json");
  EXPECT_EQ(latest.device("h1")->metrics.at("temperature").value, 20.5);
  EXPECT_EQ(writer->committed_seq(), 0u) << "HTTP messages are not journal positions";
}

TEST_F(WriterTest, HttpDeviceKeyNamesTheDeviceAndAPayloadNamingAnotherIsRejected) {
  Completion c;
  std::vector<IngestItem> items;
  items.push_back(http_item(R"({"temperature": 19})", "keyed-1"));
  items.push_back(http_item(R"({"device_id": "keyed-1", "humidity": 40})", "keyed-1"));
  items.push_back(http_item(R"({"device_id": "someone-else", "humidity": 40})", "keyed-1"));
  ASSERT_EQ(http->submit(std::move(items), std::chrono::steady_clock::now() + 10s, c.callback()),
            Admission::accepted);
  ASSERT_EQ(c.future.wait_for(10s), std::future_status::ready);
  auto r = c.future.get();
  ASSERT_EQ(r.items.size(), 3u);
  EXPECT_EQ(r.items[0].status, ItemStatus::stored);
  EXPECT_EQ(r.items[1].status, ItemStatus::stored);
  EXPECT_EQ(r.items[2].status, ItemStatus::rejected);
  EXPECT_EQ(r.items[2].reason, "device_mismatch");
  for (const auto& row : all_readings()) EXPECT_EQ(row.device_id, "keyed-1");
  EXPECT_EQ(all_readings().size(), 2u);
}

TEST_F(WriterTest, HttpAndJournalMessagesCommitTogetherAndTheCheckpointStillAdvances) {
  close();
  auto o = options();
  o.commit_delay = 300ms;
  open(o);
  const auto commits_before = counters.commits.load();
  append("sensors/j1/data", R"({"n": 1})");
  Completion c;
  std::vector<IngestItem> items;
  items.push_back(http_item(R"({"device_id": "h2", "n": 2})"));
  ASSERT_EQ(http->submit(std::move(items), std::chrono::steady_clock::now() + 10s, c.callback()),
            Admission::accepted);
  append("sensors/j1/data", R"({"n": 3})");
  ASSERT_EQ(c.future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(c.future.get().items.at(0).status, ItemStatus::stored);
  wait_committed();
  EXPECT_EQ(all_readings().size(), 3u);
  EXPECT_EQ(writer->committed_seq(), journal->last_seq());
  EXPECT_LE(counters.commits.load() - commits_before, 2u);
  close();
  open();  // the checkpoint holds: nothing replayed twice
  append("sensors/j1/data", R"({"n": 4})");
  wait_committed();
  EXPECT_EQ(all_readings().size(), 4u);
}

TEST_F(WriterTest, HttpMessagesDoNotWaitOutTheCommitDelay) {
  close();
  auto o = options();
  o.commit_delay = 3000ms;  // a trickle of journal frames would wait this long
  open(o);
  Completion c;
  std::vector<IngestItem> items;
  items.push_back(http_item(R"({"device_id": "h3", "n": 1})"));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(http->submit(std::move(items), t0 + 10s, c.callback()), Admission::accepted);
  ASSERT_EQ(c.future.wait_for(10s), std::future_status::ready);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms) << "the HTTP caller waited out the commit delay";
  EXPECT_EQ(c.future.get().items.at(0).status, ItemStatus::stored);
}

TEST_F(WriterTest, HttpCompletionWaitsForTheDatabaseAndFiresOnceItCommits) {
  close();
  spec = storage::parse_database_url("sqlite:///" + (dir / "t.db").string() + "?timeout=1");
  open();
  soci::session blocker("sqlite3", "db=" + (dir / "t.db").string() + " timeout=10");
  blocker << "BEGIN EXCLUSIVE";
  Completion c;
  std::vector<IngestItem> items;
  items.push_back(http_item(R"({"device_id": "h3", "n": 1})"));
  ASSERT_EQ(http->submit(std::move(items), std::chrono::steady_clock::now() + 10s, c.callback()),
            Admission::accepted);
  EXPECT_EQ(c.future.wait_for(1500ms), std::future_status::timeout) << "completed without a commit";
  blocker << "ROLLBACK";
  ASSERT_EQ(c.future.wait_for(10s), std::future_status::ready);
  auto r = c.future.get();
  EXPECT_EQ(r.status, SubmitStatus::committed);
  EXPECT_EQ(r.items.at(0).status, ItemStatus::stored);
  EXPECT_EQ(all_readings().size(), 1u);
}

TEST_F(WriterTest, HttpMessagesTheWriterCannotCommitBeforeStoppingCompleteAsStopped) {
  close();
  spec = storage::parse_database_url("sqlite:///" + (dir / "t.db").string() + "?timeout=1");
  open();
  soci::session blocker("sqlite3", "db=" + (dir / "t.db").string() + " timeout=10");
  blocker << "BEGIN EXCLUSIVE";
  Completion c;
  std::vector<IngestItem> items;
  items.push_back(http_item(R"({"device_id": "h4", "n": 1})"));
  ASSERT_EQ(http->submit(std::move(items), std::chrono::steady_clock::now() + 10s, c.callback()),
            Admission::accepted);
  std::this_thread::sleep_for(300ms);  // taken and failing against the lock
  writer->stop(200ms);
  http->close();
  ASSERT_EQ(c.future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(c.future.get().status, SubmitStatus::stopped);
  blocker << "ROLLBACK";
  EXPECT_TRUE(all_readings().empty());
}

}  // namespace
}  // namespace iotd::ingest
