// The commands table (migration 0002) and its repository, on every backend: the upgrade of a
// 0001 database with data, the state machine's conditional updates (PUBACK, device acks in
// the writer's transaction, expiry, start-up), and the newest-first listing.
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <string>
#include <vector>

#include "iotd/storage/commands.hpp"
#include "iotd/storage/database.hpp"
#include "storage_test_support.hpp"

namespace iotd::storage {
namespace {

using testing::count_rows;
using testing::make_reading;
using testing::store_batch;
using testing::TestDatabase;

constexpr std::int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

Command make_command(std::string id, std::string device, std::int64_t issued, std::int64_t ttl = 60'000) {
  Command c;
  c.command_id = std::move(id);
  c.device_id = std::move(device);
  c.command = "restart";
  c.parameters = R"({"delay_seconds":5})";
  c.issued_at_ms = issued;
  c.expires_at_ms = issued + ttl;
  return c;
}

std::vector<AckMatch> apply_acks(WriteStore& ws, std::vector<CommandAckUpdate> acks, bool commit = true) {
  ws.begin();
  try {
    auto out = ws.apply_command_acks(acks);
    if (commit)
      ws.commit();
    else
      ws.rollback();
    return out;
  } catch (...) {
    ws.rollback();
    throw;
  }
}

class CommandsOnBackend : public ::testing::TestWithParam<std::string> {};

// An old database (schema 0001, with readings, an alert rule and a checkpoint) upgrades in
// place: its data is intact, and commands can be stored and acknowledged.
TEST_P(CommandsOnBackend, A0001DatabaseWithDataUpgradesInPlace) {
  TestDatabase db(GetParam(), /*run_migrations=*/false);
  auto old = migrate(db.spec(), 1);
  EXPECT_EQ(old.current, 1);
  EXPECT_GE(old.latest_known, 2);
  {
    auto ws = make_write_store(db.spec());
    store_batch(*ws, {make_reading("dev-1", kT0, {{"temperature", 21.5}}, 1),
                      make_reading("dev-1", kT0 + 1000, {{"temperature", 22.5}}, 2),
                      make_reading("dev-2", kT0, {{"humidity", 40}}, 3)});
    ws->begin();
    ws->save_checkpoint("old", Checkpoint{"uuid-1", 42});
    ws->commit();
  }
  {
    auto s = db.raw();
    long long n = -1;
    // No commands table yet.
    EXPECT_ANY_THROW((*s << "SELECT COUNT(*) FROM commands", soci::into(n)));
  }

  auto report = migrate(db.spec());
  EXPECT_EQ(report.applied, report.latest_known - 1);
  EXPECT_EQ(report.current, report.latest_known);

  auto repo = make_repository(db.spec(), 1);
  ReadingQuery q;
  q.device_id = "dev-1";
  auto page = repo->readings(q);
  ASSERT_EQ(page.rows.size(), 2u);
  EXPECT_EQ(page.rows[0].ts_ms, kT0 + 1000);
  EXPECT_EQ(repo->rules().size(), 5u);
  auto ws = make_write_store(db.spec());
  auto cp = ws->load_checkpoint("old");
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->seq, 42u);

  auto commands = make_command_repository(db.spec(), 1);
  EXPECT_TRUE(commands->device_exists("dev-2"));
  EXPECT_FALSE(commands->device_exists("dev-3"));
  commands->insert(make_command("c0ffee", "dev-2", kT0));
  EXPECT_EQ(apply_acks(*ws, {{"c0ffee", "dev-2", true, "done", kT0 + 5}}),
            std::vector<AckMatch>{AckMatch::applied});
  auto c = commands->get("dev-2", "c0ffee");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->state, "acknowledged");
  EXPECT_EQ(c->message, "done");
  EXPECT_EQ(c->completed_at_ms, kT0 + 5);
  EXPECT_EQ(migrate(db.spec()).applied, 0);
}

TEST_P(CommandsOnBackend, StoredCommandReadsBackAsWritten) {
  TestDatabase db(GetParam());
  auto repo = make_command_repository(db.spec(), 2);
  auto c = make_command("a1", "dev:1", kT0, 3'600'000);
  c.parameters = R"({"ssid":"café ☕","nested":{"a":[1,2,null]}})";
  c.command = "set-wifi";
  repo->insert(c);
  auto got = repo->get("dev:1", "a1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->command_id, "a1");
  EXPECT_EQ(got->device_id, "dev:1");
  EXPECT_EQ(got->command, "set-wifi");
  EXPECT_EQ(got->parameters, c.parameters);
  EXPECT_EQ(got->state, "pending");
  EXPECT_EQ(got->issued_at_ms, kT0);
  EXPECT_EQ(got->expires_at_ms, kT0 + 3'600'000);
  EXPECT_FALSE(got->sent_at_ms);
  EXPECT_FALSE(got->completed_at_ms);
  EXPECT_EQ(got->message, "");
  EXPECT_FALSE(repo->get("dev:2", "a1")) << "another device's command";
  EXPECT_FALSE(repo->get("dev:1", "nope"));
}

TEST_P(CommandsOnBackend, PubackThenAcksMoveTheStatesAndFinishedCommandsStayFinished) {
  TestDatabase db(GetParam());
  auto repo = make_command_repository(db.spec(), 2);
  auto ws = make_write_store(db.spec());
  for (const char* id : {"ok", "err", "early"}) repo->insert(make_command(id, "d1", kT0));

  repo->mark_sent("ok", kT0 + 10);
  repo->mark_sent("err", kT0 + 10);
  EXPECT_EQ(repo->get("d1", "ok")->state, "sent");
  EXPECT_EQ(repo->get("d1", "ok")->sent_at_ms, kT0 + 10);

  auto m = apply_acks(*ws, {{"ok", "d1", true, "", kT0 + 20},
                            {"err", "d1", false, "relay stuck", kT0 + 21},
                            {"early", "d1", true, "before the PUBACK", kT0 + 22},
                            {"ok", "d1", false, "repeated", kT0 + 23},
                            {"err", "d2", true, "", kT0 + 24},
                            {"missing", "d1", true, "", kT0 + 25}});
  EXPECT_EQ(m, (std::vector<AckMatch>{AckMatch::applied, AckMatch::applied, AckMatch::applied,
                                      AckMatch::late, AckMatch::unknown, AckMatch::unknown}));
  auto ok = repo->get("d1", "ok");
  EXPECT_EQ(ok->state, "acknowledged");
  EXPECT_EQ(ok->completed_at_ms, kT0 + 20);
  auto err = repo->get("d1", "err");
  EXPECT_EQ(err->state, "failed");
  EXPECT_EQ(err->message, "relay stuck");
  // The PUBACK that arrives after the device's ack records sent_at and keeps the state.
  repo->mark_sent("early", kT0 + 30);
  auto early = repo->get("d1", "early");
  EXPECT_EQ(early->state, "acknowledged");
  EXPECT_EQ(early->sent_at_ms, kT0 + 30);
  // Finished commands neither fail nor expire any more.
  EXPECT_FALSE(repo->mark_failed("ok", "too late", kT0 + 40));
  EXPECT_EQ(repo->expire(kT0 + 10 * 60'000, "expired"), 0);
  EXPECT_EQ(repo->get("d1", "ok")->state, "acknowledged");
}

TEST_P(CommandsOnBackend, AnAckRolledBackWithItsBatchLeavesTheCommandOpen) {
  TestDatabase db(GetParam());
  auto repo = make_command_repository(db.spec(), 1);
  auto ws = make_write_store(db.spec());
  repo->insert(make_command("c", "d", kT0));
  repo->mark_sent("c", kT0 + 1);
  EXPECT_EQ(apply_acks(*ws, {{"c", "d", true, "", kT0 + 2}}, /*commit=*/false),
            std::vector<AckMatch>{AckMatch::applied});
  EXPECT_EQ(repo->get("d", "c")->state, "sent");
  EXPECT_EQ(apply_acks(*ws, {{"c", "d", true, "", kT0 + 3}}), std::vector<AckMatch>{AckMatch::applied});
  EXPECT_EQ(repo->get("d", "c")->state, "acknowledged");
}

TEST_P(CommandsOnBackend, ExpiryTakesOnlyOpenCommandsPastTheirDeadline) {
  TestDatabase db(GetParam());
  auto repo = make_command_repository(db.spec(), 1);
  repo->insert(make_command("pending-due", "d", kT0, 1000));
  repo->insert(make_command("sent-due", "d", kT0, 1000));
  repo->insert(make_command("not-due", "d", kT0, 60'000));
  repo->insert(make_command("failed", "d", kT0, 1000));
  repo->mark_sent("sent-due", kT0 + 1);
  EXPECT_TRUE(repo->mark_failed("failed", "not published: broker gone", kT0 + 2));
  EXPECT_FALSE(repo->mark_failed("failed", "again", kT0 + 3));

  EXPECT_EQ(repo->expire(kT0 + 999, "no ack"), 0);
  EXPECT_EQ(repo->expire(kT0 + 1000, "no ack"), 2);
  EXPECT_EQ(repo->get("d", "pending-due")->state, "expired");
  EXPECT_EQ(repo->get("d", "sent-due")->state, "expired");
  EXPECT_EQ(repo->get("d", "sent-due")->message, "no ack");
  EXPECT_EQ(repo->get("d", "sent-due")->completed_at_ms, kT0 + 1000);
  EXPECT_EQ(repo->get("d", "not-due")->state, "pending");
  EXPECT_EQ(repo->get("d", "failed")->state, "failed");
  EXPECT_EQ(repo->get("d", "failed")->message, "not published: broker gone");
}

TEST_P(CommandsOnBackend, StartUpFailsOnlyPendingCommands) {
  TestDatabase db(GetParam());
  auto repo = make_command_repository(db.spec(), 1);
  repo->insert(make_command("p1", "d", kT0));
  repo->insert(make_command("p2", "e", kT0));
  repo->insert(make_command("s", "d", kT0));
  repo->mark_sent("s", kT0 + 1);
  EXPECT_EQ(repo->fail_pending("outcome unknown", kT0 + 5), 2);
  EXPECT_EQ(repo->get("d", "p1")->state, "failed");
  EXPECT_EQ(repo->get("e", "p2")->message, "outcome unknown");
  EXPECT_EQ(repo->get("d", "s")->state, "sent");
}

TEST_P(CommandsOnBackend, ListIsNewestFirstPagedAndFilteredByState) {
  TestDatabase db(GetParam());
  auto repo = make_command_repository(db.spec(), 1);
  for (int i = 0; i < 7; ++i) repo->insert(make_command("c" + std::to_string(i), "d", kT0 + i * 1000));
  repo->insert(make_command("same-time", "d", kT0 + 6000));  // ties: newer row first
  repo->insert(make_command("other", "e", kT0 + 99'000));
  repo->mark_sent("c2", kT0 + 2500);
  repo->mark_sent("c4", kT0 + 4500);

  CommandQuery q;
  q.device_id = "d";
  q.limit = 3;
  auto page = repo->list(q);
  std::vector<std::string> ids;
  for (const auto& c : page) ids.push_back(c.command_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"same-time", "c6", "c5"}));
  q.offset = 6;
  ids.clear();
  for (const auto& c : repo->list(q)) ids.push_back(c.command_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"c1", "c0"}));
  q.offset = 0;
  q.limit = 100;
  q.state = "sent";
  ids.clear();
  for (const auto& c : repo->list(q)) ids.push_back(c.command_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"c4", "c2"}));
  CommandQuery none;
  none.device_id = "nobody";
  EXPECT_TRUE(repo->list(none).empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, CommandsOnBackend, ::testing::ValuesIn(testing::test_backends()),
                         testing::backend_name);

}  // namespace
}  // namespace iotd::storage
