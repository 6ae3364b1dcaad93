#include "iotd/ingest/rules.hpp"

#include <gtest/gtest.h>

namespace iotd::ingest {
namespace {

Rule rule(std::string metric, std::optional<double> min, std::optional<double> max,
          double hysteresis = 0, std::string scope = "global", std::string scope_value = "") {
  Rule r;
  r.metric = std::move(metric);
  r.min = min;
  r.max = max;
  r.hysteresis = hysteresis;
  r.scope = std::move(scope);
  r.scope_value = std::move(scope_value);
  return r;
}

Reading reading(std::string device, std::int64_t ts, std::vector<std::pair<std::string, double>> m) {
  Reading r;
  r.device_id = std::move(device);
  r.ts_ms = ts;
  r.received_at_ms = ts + 5;
  r.metrics = std::move(m);
  return r;
}

// The seed 000 defaults that migration 0001 installs.
RuleSet seed_rules() {
  return RuleSet({rule("temperature", 0, 50), rule("humidity", 10, 90), rule("voltage", 200, 240),
                  rule("current", 0, 10), rule("pressure", 900, 1100)});
}

TEST(Rules, InRangeReadingRaisesNothing) {
  AlarmBook book;
  std::vector<AlarmChange> ev;
  evaluate(seed_rules(), reading("d1", 1000, {{"temperature", 28.4}, {"humidity", 65.2}}), "", book, ev);
  EXPECT_TRUE(ev.empty());
  EXPECT_TRUE(book.active.empty());
}

TEST(Rules, SampleDevice5RaisesFiveAlerts) {
  // payloads.jsonl line 33: every value of device5 is out of its seed range.
  AlarmBook book;
  std::vector<AlarmChange> ev;
  evaluate(seed_rules(),
           reading("device5", 1000, {{"current", 11.06}, {"humidity", 7.43}, {"pressure", 1123.5},
                                     {"temperature", 57.21}, {"voltage", 245.9}}),
           "", book, ev);
  ASSERT_EQ(ev.size(), 5u);
  const auto& t = book.active.at({"device5", "temperature"});
  EXPECT_EQ(t.state, "active");
  EXPECT_EQ(t.first_value, 57.21);
  EXPECT_EQ(t.threshold_max, 50);
  EXPECT_EQ(t.message, "temperature 57.21 above max 50");
  EXPECT_EQ(t.raised_ts_ms, 1000);
  EXPECT_EQ(t.raised_received_at_ms, 1005);
  EXPECT_EQ(book.active.at({"device5", "humidity"}).message, "humidity 7.43 below min 10");
}

TEST(Rules, RaisedOnceThenUpdatedWithCountAndPeak) {
  AlarmBook book;
  std::vector<AlarmChange> ev;
  auto rules = seed_rules();
  evaluate(rules, reading("d", 1, {{"temperature", 55}}), "", book, ev);
  evaluate(rules, reading("d", 2, {{"temperature", 61}}), "", book, ev);
  evaluate(rules, reading("d", 3, {{"temperature", 52}}), "", book, ev);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].event, AlarmEvent::raised);
  EXPECT_EQ(ev[1].event, AlarmEvent::updated);
  ASSERT_EQ(book.active.size(), 1u);
  const auto& a = book.active.begin()->second;
  EXPECT_EQ(a.count, 3);
  EXPECT_EQ(a.first_value, 55);
  EXPECT_EQ(a.peak_value, 61);
  EXPECT_EQ(a.last_value, 52);
  EXPECT_EQ(a.updated_ts_ms, 3);
}

TEST(Rules, PeakOfALowAlarmIsTheLowestValue) {
  AlarmBook book;
  std::vector<AlarmChange> ev;
  auto rules = seed_rules();
  evaluate(rules, reading("d", 1, {{"humidity", 8}}), "", book, ev);
  evaluate(rules, reading("d", 2, {{"humidity", 3}}), "", book, ev);
  evaluate(rules, reading("d", 3, {{"humidity", 9}}), "", book, ev);
  EXPECT_EQ(book.active.begin()->second.peak_value, 3);
}

TEST(Rules, ClearsOnlyPastTheHysteresis) {
  RuleSet rules({rule("temperature", 0, 50, 2.0)});
  AlarmBook book;
  std::vector<AlarmChange> ev;
  evaluate(rules, reading("d", 1, {{"temperature", 51}}), "", book, ev);
  evaluate(rules, reading("d", 2, {{"temperature", 49}}), "", book, ev);  // inside, within band
  EXPECT_EQ(book.active.size(), 1u);
  EXPECT_EQ(ev.size(), 1u);
  evaluate(rules, reading("d", 3, {{"temperature", 47.5}}), "", book, ev);
  EXPECT_TRUE(book.active.empty());
  ASSERT_EQ(book.closed.size(), 1u);
  EXPECT_EQ(book.closed[0].state, "cleared");
  EXPECT_EQ(book.closed[0].cleared_ts_ms, 3);
  EXPECT_EQ(ev.back().event, AlarmEvent::cleared);
  // Leaving the range again raises a new alarm.
  evaluate(rules, reading("d", 4, {{"temperature", 70}}), "", book, ev);
  EXPECT_EQ(book.active.size(), 1u);
  EXPECT_EQ(book.active.begin()->second.first_value, 70);
  EXPECT_EQ(ev.back().event, AlarmEvent::raised);
}

TEST(Rules, PrecedenceIsDeviceThenTypeThenGlobal) {
  RuleSet rules({rule("voltage", 200, 240), rule("voltage", 3.0, 4.2, 0, "type", "esp32"),
                 rule("voltage", 11, 13, 0, "device", "strike-1")});
  EXPECT_EQ(*rules.find("voltage", "x", "")->max, 240);
  EXPECT_EQ(*rules.find("voltage", "x", "esp32")->max, 4.2);
  EXPECT_EQ(*rules.find("voltage", "strike-1", "esp32")->max, 13);
  EXPECT_EQ(rules.find("gas", "x", ""), nullptr);
  AlarmBook book;
  std::vector<AlarmChange> ev;
  evaluate(rules, reading("esp", 1, {{"voltage", 3.3}}), "esp32", book, ev);
  EXPECT_TRUE(ev.empty()) << "a battery voltage is fine under the esp32 type rule";
}

TEST(Rules, OneSidedRules) {
  RuleSet rules({rule("gas", std::nullopt, 1000)});
  AlarmBook book;
  std::vector<AlarmChange> ev;
  evaluate(rules, reading("d", 1, {{"gas", -5}}), "", book, ev);
  EXPECT_TRUE(ev.empty());
  evaluate(rules, reading("d", 2, {{"gas", 1873}}), "", book, ev);
  EXPECT_EQ(ev.size(), 1u);
}

TEST(Rules, LoadedActiveAlertsContinue) {
  Alert a;
  a.id = 7;
  a.device_id = "d";
  a.metric = "temperature";
  a.state = "active";
  a.threshold_max = 50;
  a.first_value = a.last_value = a.peak_value = 60;
  AlarmBook book;
  book.load({a});
  std::vector<AlarmChange> ev;
  evaluate(seed_rules(), reading("d", 9, {{"temperature", 65}}), "", book, ev);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].event, AlarmEvent::updated);
  EXPECT_EQ(book.active.at({"d", "temperature"}).id, 7);
  EXPECT_EQ(book.active.at({"d", "temperature"}).count, 2);
  EXPECT_EQ(book.dirty.count({"d", "temperature"}), 1u);
}

// A manual alert on the same device and metric is not part of the alarm state: the rule
// raises its own alarm beside it and clearing that alarm leaves the manual one alone.
TEST(Rules, ManualAlertsAreNotLoadedIntoTheAlarmBook) {
  Alert manual;
  manual.id = 3;
  manual.device_id = "d";
  manual.metric = "temperature";
  manual.kind = "manual";
  manual.state = "active";
  AlarmBook book;
  book.load({manual});
  EXPECT_TRUE(book.active.empty());
  std::vector<AlarmChange> ev;
  evaluate(seed_rules(), reading("d", 1, {{"temperature", 60}}), "", book, ev);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].event, AlarmEvent::raised);
  EXPECT_EQ(book.active.at({"d", "temperature"}).kind, "threshold");
  EXPECT_EQ(book.active.at({"d", "temperature"}).id, 0);  // a new row, not the manual one
}

// A rule relaxed or deleted while its alarm is active: the alarm clears on the next value
// that the rule now in force accepts (none: any value), and stays while values stay out.
TEST(Rules, AlarmOfARelaxedOrDeletedRuleClearsOnItsNextAcceptedValue) {
  RuleSet strict({rule("temperature", std::nullopt, 30, 0, "device", "d"), rule("temperature", 0, 50)});
  AlarmBook book;
  std::vector<AlarmChange> ev;
  evaluate(strict, reading("d", 1, {{"temperature", 35}}), "", book, ev);
  ASSERT_EQ(book.active.size(), 1u);
  // Deleted device rule: the global 0-50 applies; 55 is still out, 35 is back in.
  RuleSet global({rule("temperature", 0, 50)});
  ev.clear();
  evaluate(global, reading("d", 2, {{"temperature", 55}}), "", book, ev);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].event, AlarmEvent::updated);
  ev.clear();
  evaluate(global, reading("d", 3, {{"temperature", 35}}), "", book, ev);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].event, AlarmEvent::cleared);
  EXPECT_TRUE(book.active.empty());
  // No rule at all: an active alarm clears on its next value.
  book = {};
  evaluate(strict, reading("d", 4, {{"temperature", 99}}), "", book, ev);
  ASSERT_EQ(book.active.size(), 1u);
  ev.clear();
  evaluate(RuleSet(std::vector<Rule>{}), reading("d", 5, {{"temperature", 99}}), "", book, ev);
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].event, AlarmEvent::cleared);
}

}  // namespace
}  // namespace iotd::ingest
