// The writer and the device registry (issue 9), against a real journal and SQLite file: a
// device's type reaches the rule engine, and Writer::device_changed makes a type change or a
// deletion apply from the next batch (with auto-registration off, a deleted device is
// rejected as unknown_device and its latest values go).
#include <gtest/gtest.h>

#include <thread>

#include "iotd/core/time.hpp"
#include "iotd/ingest/journal_input.hpp"
#include "iotd/ingest/writer.hpp"
#include "iotd/storage/database.hpp"
#include "support/temp_dir.hpp"

namespace iotd::ingest {
namespace {

using namespace std::chrono_literals;

class WriterDevicesTest : public ::testing::Test {
 protected:
  test::TempDir dir;
  storage::ConnectionSpec spec = storage::parse_database_url("sqlite:///" + (dir / "t.db").string());
  std::unique_ptr<storage::Repository> repo;
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<JournalInput> input;
  std::unique_ptr<storage::WriteStore> store;
  storage::LatestCache latest;
  Counters counters;
  std::unique_ptr<Writer> writer;

  void SetUp() override {
    storage::migrate(spec);
    repo = storage::make_repository(spec, 2);
  }

  void TearDown() override {
    if (writer) writer->stop(5s);
  }

  void start(bool auto_register) {
    journal::JournalOptions jo;
    jo.dir = dir / "journal";
    journal = std::make_unique<journal::Journal>(jo);
    input = std::make_unique<JournalInput>(*journal);
    store = storage::make_write_store(spec);
    WriterOptions o;
    o.instance_id = "test";
    o.topics = pipeline::parse_topic_templates("sensors/{device_id}/data");
    o.auto_register = auto_register;
    writer = std::make_unique<Writer>(o, std::vector<WriterInput*>{input.get()}, *store, latest, counters);
    writer->start();
  }

  void register_device(const std::string& id, const std::string& type) {
    storage::Device d;
    d.device_id = id;
    d.type = type;
    d.created_at_ms = d.updated_at_ms = time::now_ms();
    ASSERT_TRUE(repo->create_device(d, std::string(64, 'a')));
  }

  void publish(const std::string& device, const std::string& payload) {
    ASSERT_EQ(journal->append("sensors/" + device + "/data", payload, time::now_ms(), 0),
              journal::AppendResult::appended);
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (writer->committed_seq() < journal->last_seq()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "writer did not catch up";
      std::this_thread::sleep_for(5ms);
    }
  }

  std::size_t alerts(const std::string& device) {
    storage::AlertQuery q;
    q.device_id = device;
    return repo->alerts(q).size();
  }

  std::size_t rejects(const std::string& reason) {
    storage::RejectQuery q;
    q.reason = reason;
    return repo->rejects(q).size();
  }

  static void put_type_rule(storage::Repository& r, const std::string& type, double max) {
    storage::Rule rule;
    rule.metric = "temperature";
    rule.scope = "type";
    rule.scope_value = type;
    rule.max = max;
    rule.severity = "critical";
    r.put_rule(rule);
  }
};

TEST_F(WriterDevicesTest, TheDeviceTypeSelectsTypeScopedRulesAndATypeChangeAppliesAtOnce) {
  put_type_rule(*repo, "boiler", 30);
  register_device("b-1", "boiler");
  register_device("c-1", "chiller");
  start(true);
  publish("b-1", R"({"temperature": 35})");  // above the boiler rule, inside the global 0-50
  publish("c-1", R"({"temperature": 35})");
  EXPECT_EQ(alerts("b-1"), 1u);
  EXPECT_EQ(alerts("c-1"), 0u);

  // c-1 becomes a boiler: without the hook the writer would keep its cached type.
  storage::Device c = *repo->device("c-1");
  c.type = "boiler";
  ASSERT_TRUE(repo->update_device(c));
  writer->device_changed("c-1");
  publish("c-1", R"({"temperature": 36})");
  EXPECT_EQ(alerts("c-1"), 1u);
}

TEST_F(WriterDevicesTest, ADeletedDeviceIsUnknownFromTheNextBatchAndLosesItsLatestValues) {
  register_device("d-1", "esp32");
  start(false);
  publish("d-1", R"({"temperature": 20})");
  publish("stranger", R"({"temperature": 20})");
  EXPECT_EQ(rejects("unknown_device"), 1u);
  ASSERT_TRUE(latest.device("d-1"));

  ASSERT_TRUE(repo->delete_device("d-1", false, time::now_ms()));
  writer->device_changed("d-1");
  publish("d-1", R"({"temperature": 21})");
  EXPECT_EQ(rejects("unknown_device"), 2u);
  EXPECT_FALSE(latest.device("d-1"));
  storage::ReadingQuery q;
  q.device_id = "d-1";
  EXPECT_EQ(repo->readings(q).rows.size(), 1u) << "the stored reading stays without purge";
}

}  // namespace
}  // namespace iotd::ingest
