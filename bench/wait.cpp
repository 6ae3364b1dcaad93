// iotd-bench-wait: polls iotd's /api/v1/health every 10 ms until counters.messages_stored
// reaches a target, then prints the commit time iotd recorded (counters.last_commit_at)
// in epoch microseconds, so a script measures first publish -> last commit exactly,
// whatever the polling granularity.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "iotd/core/time.hpp"
#include "lib/args.hpp"
#include "lib/clock.hpp"
#include "lib/http_get.hpp"
#include "lib/report.hpp"

namespace {

using namespace iotd::bench;
using namespace std::chrono_literals;

constexpr const char* kUsage =
    R"(usage: iotd-bench-wait --stored N [options]
  --url URL         iotd's health JSON (default http://127.0.0.1:8080/api/v1/health)
  --stored N        wait until counters.messages_stored - baseline >= N
  --baseline K      subtract K (the count before the run) (default 0)
  --timeout S       give up after S seconds (default 60)
  --interval-ms T   poll period (default 10)
  --json            one JSON object instead of lines
Exit status: 0 reached, 1 timed out (with the last values seen), 2 usage errors.)";

struct Options {
  Url url = *parse_url("http://127.0.0.1:8080/api/v1/health");
  long long stored = -1;
  long long baseline = 0;
  double timeout_s = 60;
  int interval_ms = 10;
  bool json = false;
};

// What one poll saw.
struct Seen {
  std::optional<long long> stored;
  std::string last_commit_at;             // as served; empty when null
  std::optional<long long> last_commit_us;
  std::optional<long long> backlog;
  std::string status;                     // health "status"
};

Options parse(int argc, char** argv) {
  Options o;
  Args a(argc, argv);
  while (!a.done()) {
    if (auto v = a.value("--url")) {
      auto url = parse_url(*v);
      if (!url) throw UsageError("--url: not an http:// URL: " + *v);
      o.url = *url;
    } else if (auto v = a.value("--stored")) {
      o.stored = to_integer(*v, "--stored", 0, 1'000'000'000'000LL);
    } else if (auto v = a.value("--baseline")) {
      o.baseline = to_integer(*v, "--baseline", 0, 1'000'000'000'000LL);
    } else if (auto v = a.value("--timeout")) {
      o.timeout_s = to_double(*v, "--timeout", 0, 86'400);
    } else if (auto v = a.value("--interval-ms")) {
      o.interval_ms = static_cast<int>(to_integer(*v, "--interval-ms", 1, 60'000));
    } else if (a.flag("--json")) {
      o.json = true;
    } else if (a.flag("--help") || a.flag("-h")) {
      std::puts(kUsage);
      std::exit(0);
    } else {
      throw UsageError("unknown argument: " + a.peek());
    }
  }
  if (o.stored < 0) throw UsageError("--stored is required");
  return o;
}

// Reads the fields we need from the health body; a field missing or of the wrong type is
// left empty (and so never counts as reached).
Seen read_health(const std::string& body, std::string& error) {
  Seen s;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object()) {
    error = "health is not a JSON object";
    return s;
  }
  if (auto st = j.find("status"); st != j.end() && st->is_string()) s.status = st->get<std::string>();
  if (auto journal = j.find("journal"); journal != j.end() && journal->is_object())
    if (auto b = journal->find("backlog"); b != journal->end() && b->is_number_integer())
      s.backlog = b->get<long long>();
  auto counters = j.find("counters");
  if (counters == j.end() || !counters->is_object()) {
    error = "health has no counters";
    return s;
  }
  if (auto n = counters->find("messages_stored"); n != counters->end() && n->is_number_integer())
    s.stored = n->get<long long>();
  else
    error = "health has no counters.messages_stored";
  if (auto t = counters->find("last_commit_at"); t != counters->end() && t->is_string()) {
    s.last_commit_at = t->get<std::string>();
    if (auto ms = iotd::time::parse_iso8601_ms(s.last_commit_at)) s.last_commit_us = *ms * 1000;
  }
  return s;
}

template <typename T>
nlohmann::ordered_json or_null(const std::optional<T>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "iotd-bench-wait: %s\n%s\n", e.what(), kUsage);
    return 2;
  }

  const auto start = Clock::now();
  const auto deadline = start + from_seconds(o.timeout_s);
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(1s);
  Seen seen;
  std::string error;
  long long polls = 0;
  bool reached = false;
  auto next = start;
  while (true) {
    ++polls;
    GetResult r = http_get(o.url, timeout);
    error.clear();
    if (!r.ok) {
      error = r.error;
    } else {
      // 503 still carries the counters (database down or ingest paused).
      Seen s = read_health(r.body, error);
      if (s.stored) seen = s;
    }
    if (seen.stored && *seen.stored - o.baseline >= o.stored) {
      reached = true;
      break;
    }
    const auto now = Clock::now();
    if (now >= deadline) break;
    next += std::chrono::milliseconds(o.interval_ms);
    if (next > now) std::this_thread::sleep_until(std::min(next, deadline));
    else next = now;
  }

  nlohmann::ordered_json report{
      {"tool", "iotd-bench-wait"},
      {"reached", reached},
      {"target", o.stored},
      {"baseline", o.baseline},
      {"stored", or_null(seen.stored)},
      {"stored_since_baseline", seen.stored ? nlohmann::ordered_json(*seen.stored - o.baseline) : nlohmann::ordered_json()},
      {"last_commit_at", seen.last_commit_at.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(seen.last_commit_at)},
      {"last_commit_at_us", or_null(seen.last_commit_us)},
      {"journal_backlog", or_null(seen.backlog)},
      {"health_status", seen.status.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(seen.status)},
      {"polls", polls},
      {"elapsed_ms", round3(to_ms(Clock::now() - start))},
      {"last_error", error.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(error)},
  };
  print_report(report, o.json);
  if (!reached)
    std::fprintf(stderr, "iotd-bench-wait: timed out after %.3f s: stored %s of %lld (baseline %lld)%s%s\n",
                 o.timeout_s, seen.stored ? std::to_string(*seen.stored).c_str() : "unknown", o.stored,
                 o.baseline, error.empty() ? "" : "; last error: ", error.c_str());
  return reached ? 0 : 1;
}
