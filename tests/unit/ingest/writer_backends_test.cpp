// The writer's error handling on every database backend (SQLite, and the PostgreSQL and
// MariaDB servers the storage suites start): a row the database refuses for good must end
// in rejects with the database's reason, found by bisecting its batch, while every other
// row of the batch is stored. On PostgreSQL the rows go as column arrays, on MariaDB as
// multi-row VALUES, on SQLite one by one: three different ways to fail a chunk.
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "iotd/core/time.hpp"
#include "iotd/ingest/journal_input.hpp"
#include "iotd/ingest/writer.hpp"
#include "iotd/storage/repository.hpp"
#include "support/temp_dir.hpp"
#include "unit/storage/storage_test_support.hpp"

namespace iotd::ingest {
namespace {

using namespace std::chrono_literals;
using storage::testing::TestDatabase;

// A trigger that aborts the insert of any message whose metrics hold 666.
void install_poison_trigger(soci::session& s) {
  if (s.get_backend_name() == "postgresql") {
    s << "CREATE OR REPLACE FUNCTION iotd_test_poison() RETURNS trigger AS $$ BEGIN "
         "IF NEW.metrics LIKE '%666%' THEN RAISE EXCEPTION 'poisoned row'; END IF; "
         "RETURN NEW; END $$ LANGUAGE plpgsql";
    s << "CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW "
         "EXECUTE FUNCTION iotd_test_poison()";
  } else if (s.get_backend_name() == "mysql") {
    s << "CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW BEGIN "
         "IF NEW.metrics LIKE '%666%' THEN SIGNAL SQLSTATE '45000' "
         "SET MESSAGE_TEXT = 'poisoned row'; END IF; END";
  } else {
    s << "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.metrics LIKE '%666%' "
         "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END";
  }
}

class WriterOnBackend : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db = std::make_unique<TestDatabase>(GetParam());
    install_poison_trigger(*db->raw());
    repo = storage::make_repository(db->spec(), 2);
    journal::JournalOptions jo;
    jo.dir = dir / "journal";
    journal = std::make_unique<journal::Journal>(jo);
    store = storage::make_write_store(db->spec());
    WriterOptions o;
    o.instance_id = "test";
    o.topics = pipeline::parse_topic_templates("sensors/{device_id}/data");
    input = std::make_unique<JournalInput>(*journal);
    writer = std::make_unique<Writer>(o, std::vector<WriterInput*>{input.get()}, *store, latest, counters);
  }

  void TearDown() override {
    if (writer) writer->stop(5s);
  }

  void append(const std::string& topic, const std::string& payload) {
    ASSERT_EQ(journal->append(topic, payload, time::now_ms(), 0), journal::AppendResult::appended);
  }

  void wait_committed() {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (writer->committed_seq() < journal->last_seq()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "writer did not catch up";
      std::this_thread::sleep_for(5ms);
    }
  }

  std::size_t stored() {
    storage::ReadingQuery q;
    q.limit = 10000;
    return repo->readings(q).rows.size();
  }

  iotd::test::TempDir dir;
  std::unique_ptr<TestDatabase> db;
  std::unique_ptr<storage::Repository> repo;
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<JournalInput> input;
  std::unique_ptr<storage::WriteStore> store;
  storage::LatestCache latest;
  Counters counters;
  std::unique_ptr<Writer> writer;
};

TEST_P(WriterOnBackend, ThePoisonedRowOfABatchGoesToRejectsAndTheRestIsStored) {
  // Appended before start: the writer takes all 300 in one batch (one chunk on every
  // backend), so only bisection can isolate the bad row.
  for (int i = 0; i < 300; ++i)
    append("sensors/p" + std::to_string(i % 7) + "/data",
           R"({"n": )" + std::to_string(i == 123 ? 666 : i) + "}");
  writer->start();
  wait_committed();
  EXPECT_EQ(stored(), 299u);
  auto rejects = repo->rejects({});
  ASSERT_EQ(rejects.size(), 1u);
  EXPECT_EQ(rejects[0].reason, "store_error");
  EXPECT_EQ(rejects[0].payload, R"({"n": 666})");
  EXPECT_NE(rejects[0].detail.find("poisoned row"), std::string::npos) << rejects[0].detail;
  EXPECT_EQ(counters.messages_stored.load(), 299u);

  // The writer goes on, and the database is reported healthy.
  append("sensors/after/data", R"({"n": 1000})");
  wait_committed();
  EXPECT_EQ(stored(), 300u);
  EXPECT_TRUE(writer->database_ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, WriterOnBackend,
                         ::testing::ValuesIn(storage::testing::test_backends()),
                         storage::testing::backend_name);

}  // namespace
}  // namespace iotd::ingest
