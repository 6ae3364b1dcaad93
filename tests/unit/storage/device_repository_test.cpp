// The device registry (issue 9) on every backend: create, read, list with filters and
// paging, update, keys, heartbeat, delete with and without purge, and what the writer's
// store sees of it (types for the rules, deleted devices, revival).
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <string>
#include <vector>

#include "iotd/storage/database.hpp"
#include "storage_test_support.hpp"

namespace iotd::storage {
namespace {

using testing::count_rows;
using testing::make_reading;
using testing::store_batch;
using testing::TestDatabase;

constexpr std::int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
const std::string kHashA(64, 'a'), kHashB(64, 'b');

class DeviceRepositoryTest : public ::testing::TestWithParam<std::string> {
 protected:
  DeviceRepositoryTest()
      : db_(GetParam()), ws_(make_write_store(db_.spec())), repo_(make_repository(db_.spec(), 2)) {}

  static Device device(std::string id, std::optional<std::string> type = std::nullopt,
                       std::string status = "active", std::optional<std::string> location = std::nullopt) {
    Device d;
    d.device_id = std::move(id);
    d.name = "name of " + d.device_id;
    d.type = std::move(type);
    d.location = std::move(location);
    d.status = std::move(status);
    d.metadata_json = R"({"fw":"1.2"})";
    d.created_at_ms = d.updated_at_ms = kT0;
    return d;
  }

  std::vector<std::string> ids(const DeviceQuery& q) {
    std::vector<std::string> out;
    for (const auto& d : repo_->devices(q)) out.push_back(d.device_id);
    return out;
  }

  TestDatabase db_;
  std::unique_ptr<WriteStore> ws_;
  std::unique_ptr<Repository> repo_;
};

TEST_P(DeviceRepositoryTest, CreateReadListFilterAndUpdate) {
  ASSERT_TRUE(repo_->create_device(device("b-2", "esp32", "active", "lab"), kHashA));
  ASSERT_TRUE(repo_->create_device(device("a-1", "esp32", "maintenance", "roof"), ""));
  ASSERT_TRUE(repo_->create_device(device("c-3", std::nullopt, "inactive", "lab"), kHashB));
  EXPECT_FALSE(repo_->create_device(device("a-1"), kHashA)) << "already registered";

  auto a = repo_->device("a-1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->name, "name of a-1");
  EXPECT_EQ(a->type, "esp32");
  EXPECT_EQ(a->location, "roof");
  EXPECT_EQ(a->status, "maintenance");
  EXPECT_EQ(a->metadata_json, R"({"fw":"1.2"})");
  EXPECT_EQ(a->created_at_ms, kT0);
  EXPECT_FALSE(a->last_seen_at_ms);
  EXPECT_TRUE(a->has_key) << "an empty hash is still a hash column value";
  auto c = repo_->device("c-3");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->type);
  EXPECT_FALSE(repo_->device("nope"));

  EXPECT_EQ(ids({}), (std::vector<std::string>{"a-1", "b-2", "c-3"}));
  DeviceQuery q;
  q.type = "esp32";
  EXPECT_EQ(ids(q), (std::vector<std::string>{"a-1", "b-2"}));
  q = {};
  q.location = "lab";
  EXPECT_EQ(ids(q), (std::vector<std::string>{"b-2", "c-3"}));
  q.status = "inactive";
  EXPECT_EQ(ids(q), (std::vector<std::string>{"c-3"}));
  q = {};
  q.limit = 1;
  q.offset = 1;
  EXPECT_EQ(ids(q), (std::vector<std::string>{"b-2"}));

  Device changed = *a;
  changed.name.reset();
  changed.type = "gateway";
  changed.status = "active";
  changed.metadata_json.clear();
  changed.updated_at_ms = kT0 + 5;
  ASSERT_TRUE(repo_->update_device(changed));
  a = repo_->device("a-1");
  EXPECT_FALSE(a->name);
  EXPECT_EQ(a->type, "gateway");
  EXPECT_EQ(a->status, "active");
  EXPECT_EQ(a->metadata_json, "");
  EXPECT_EQ(a->updated_at_ms, kT0 + 5);
  EXPECT_EQ(a->created_at_ms, kT0);
  changed.device_id = "nope";
  EXPECT_FALSE(repo_->update_device(changed));

  auto by_status = repo_->devices_by_status();
  EXPECT_EQ(by_status, (std::map<std::string, std::int64_t>{{"active", 2}, {"inactive", 1}}));
}

TEST_P(DeviceRepositoryTest, KeysAreReplacedByRotationAndDroppedByDelete) {
  ASSERT_TRUE(repo_->create_device(device("k-1"), kHashA));
  ASSERT_TRUE(repo_->create_device(device("k-2"), kHashB));
  auto keys = repo_->device_keys();
  ASSERT_EQ(keys.size(), 2u);
  std::map<std::string, std::string> by_device;
  for (const auto& k : keys) by_device[k.device_id] = k.key_sha256_hex;
  EXPECT_EQ(by_device["k-1"], kHashA);
  EXPECT_EQ(by_device["k-2"], kHashB);

  const std::string rotated(64, 'c');
  ASSERT_TRUE(repo_->set_device_key("k-1", rotated, kT0 + 1));
  EXPECT_FALSE(repo_->set_device_key("ghost", rotated, kT0 + 1));
  by_device.clear();
  for (const auto& k : repo_->device_keys()) by_device[k.device_id] = k.key_sha256_hex;
  EXPECT_EQ(by_device["k-1"], rotated);

  ASSERT_TRUE(repo_->delete_device("k-2", false, kT0 + 2));
  keys = repo_->device_keys();
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].device_id, "k-1");
}

TEST_P(DeviceRepositoryTest, HeartbeatMovesLastSeenForwardOnly) {
  ASSERT_TRUE(repo_->create_device(device("h-1"), kHashA));
  ASSERT_TRUE(repo_->device_heartbeat("h-1", kT0 + 1000));
  EXPECT_EQ(repo_->device("h-1")->last_seen_at_ms, kT0 + 1000);
  ASSERT_TRUE(repo_->device_heartbeat("h-1", kT0 + 10)) << "known device, older time";
  EXPECT_EQ(repo_->device("h-1")->last_seen_at_ms, kT0 + 1000);
  EXPECT_FALSE(repo_->device_heartbeat("ghost", kT0));
  // The writer keeps it too, in its batch.
  store_batch(*ws_, {make_reading("h-1", kT0, {{"t", 1}}, 1, kT0 + 5000)});
  EXPECT_EQ(repo_->device("h-1")->last_seen_at_ms, kT0 + 5000);
}

TEST_P(DeviceRepositoryTest, DeleteKeepsReadingsUnlessPurgedAndCreateTakesTheRowBack) {
  ASSERT_TRUE(repo_->create_device(device("d-1", "esp32"), kHashA));
  ASSERT_TRUE(ws_->device_known("d-1"));
  store_batch(*ws_, {make_reading("d-1", kT0, {{"t", 1}}, 1), make_reading("d-1", kT0 + 60'000, {{"t", 2}}, 2),
                     make_reading("other", kT0, {{"t", 9}}, 3)});
  Alert a;
  a.device_id = "d-1";
  a.metric = "t";
  a.kind = "manual";
  a.severity = "warning";
  a.message = "check";
  a.raised_ts_ms = a.raised_received_at_ms = a.updated_ts_ms = kT0;
  repo_->insert_alert(a);

  // Without purge: gone from the registry, the readings stay under its id.
  ASSERT_TRUE(repo_->delete_device("d-1", false, kT0 + 1));
  EXPECT_FALSE(repo_->device("d-1"));
  EXPECT_FALSE(repo_->delete_device("d-1", false, kT0 + 2)) << "already deleted";
  EXPECT_FALSE(repo_->device_heartbeat("d-1", kT0 + 3));
  EXPECT_EQ(ids({}), (std::vector<std::string>{"other"}));
  ReadingQuery rq;
  rq.device_id = "d-1";
  EXPECT_EQ(repo_->readings(rq).rows.size(), 2u);
  AlertQuery aq;
  aq.device_id = "d-1";
  EXPECT_EQ(repo_->alerts(aq).size(), 1u);

  // The writer's store no longer knows it; a fresh store (a restart) neither, nor its latest.
  ws_->forget_device("d-1");
  EXPECT_FALSE(ws_->device_known("d-1"));
  auto fresh = make_write_store(db_.spec());
  EXPECT_FALSE(fresh->device_known("d-1"));
  for (const auto& d : fresh->load_latest()) EXPECT_NE(d.device_id, "d-1");
  EXPECT_EQ(fresh->device_count(), 1);

  // Created again: the same row, its readings are its own again.
  ASSERT_TRUE(repo_->create_device(device("d-1", "gateway"), kHashB));
  EXPECT_EQ(repo_->readings(rq).rows.size(), 2u);
  EXPECT_EQ(repo_->device("d-1")->type, "gateway");

  // Purge: every row of the device goes, the other device's stay.
  ASSERT_TRUE(repo_->delete_device("d-1", true, kT0 + 4));
  EXPECT_FALSE(repo_->device("d-1"));
  EXPECT_TRUE(repo_->readings(rq).rows.empty());
  EXPECT_TRUE(repo_->alerts(aq).empty());
  auto s = db_.raw();
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM devices WHERE device_id = 'd-1'"), 0);
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM messages"), 1);
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM rollup_1m"), 1);
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM latest_values"), 1);
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM alerts"), 0);
  EXPECT_FALSE(repo_->delete_device("d-1", true, kT0 + 5));
}

TEST_P(DeviceRepositoryTest, WriterStoreSeesTypesAndRevivesADeletedDeviceThatPublishes) {
  ASSERT_TRUE(repo_->create_device(device("t-1", "boiler"), kHashA));
  auto ws = make_write_store(db_.spec());  // loads its cache now: t-1 with its type
  EXPECT_TRUE(ws->device_known("t-1"));
  EXPECT_EQ(ws->device_type("t-1"), "boiler");
  EXPECT_EQ(ws->device_type("unknown"), "");

  Device d = *repo_->device("t-1");
  d.type = "chiller";
  ASSERT_TRUE(repo_->update_device(d));
  EXPECT_EQ(ws->device_type("t-1"), "boiler") << "cached until told";
  ws->forget_device("t-1");
  EXPECT_TRUE(ws->device_known("t-1"));
  EXPECT_EQ(ws->device_type("t-1"), "chiller");

  // Registered through the API after the store started: found on lookup, with its type.
  ASSERT_TRUE(repo_->create_device(device("t-2", "pump"), kHashB));
  EXPECT_TRUE(ws->device_known("t-2"));
  EXPECT_EQ(ws->device_type("t-2"), "pump");

  // Deleted without purge, then admitted again (auto-registration): active again.
  ASSERT_TRUE(repo_->delete_device("t-1", false, kT0));
  ws->forget_device("t-1");
  EXPECT_FALSE(ws->device_known("t-1"));
  ws->begin();
  ws->insert_messages(std::vector<Reading>{make_reading("t-1", kT0, {{"x", 1}}, 7)});
  ws->rollback();
  EXPECT_FALSE(ws->device_known("t-1")) << "a rolled-back revival leaves it deleted";
  EXPECT_FALSE(repo_->device("t-1"));
  store_batch(*ws, {make_reading("t-1", kT0, {{"x", 1}}, 7)});
  EXPECT_TRUE(ws->device_known("t-1"));
  auto revived = repo_->device("t-1");
  ASSERT_TRUE(revived);
  EXPECT_EQ(revived->status, "active");
  EXPECT_FALSE(revived->has_key) << "the deleted key does not come back";
  // A later transaction that rolls back must not undo the committed revival.
  ws->begin();
  ws->rollback();
  EXPECT_TRUE(ws->device_known("t-1")) << "the revival was committed";
}

INSTANTIATE_TEST_SUITE_P(Backends, DeviceRepositoryTest, ::testing::ValuesIn(testing::test_backends()),
                         testing::backend_name);

}  // namespace
}  // namespace iotd::storage
