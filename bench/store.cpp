// iotd-bench-store: the database side of ingest (BENCHMARKS.md), with its same-run
// reference. `drain` times iotd's Writer committing a pre-filled journal (no broker);
// `insert` times a plain SOCI loop inserting the same messages rows (and, as a second
// reference, every row the writer produces per message); `both` runs insert then drain on
// fresh schemas and prints drain/insert; `copy` (PostgreSQL) loads the same messages rows by a
// raw COPY, then drains, and prints drain/COPY. The database given by --db is wiped (iotd's tables)
// before every run. One JSON line on stdout with --json; diagnostics on stderr.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "iotd/core/counters.hpp"
#include "iotd/core/time.hpp"
#include "iotd/ingest/journal_input.hpp"
#include "iotd/ingest/writer.hpp"
#include "iotd/journal/journal.hpp"
#include "iotd/storage/database.hpp"
#include "iotd/storage/latest_cache.hpp"
#include "lib/store_db.hpp"
#include "lib/store_raw.hpp"
#include "lib/store_workload.hpp"

namespace iotd::bench {
namespace {

using Json = nlohmann::ordered_json;

constexpr const char* kUsage =
    "usage: iotd-bench-store drain|insert|both|copy --db URL --messages N --devices D [options]\n"
    "  drain   iotd's Writer commits N pre-filled journal frames (no broker)\n"
    "  insert  raw reference: the same messages rows by a plain SOCI loop (SQLite: prepared\n"
    "          single-row INSERT; PostgreSQL/MySQL: multi-row INSERT), then every row the\n"
    "          writer produces (messages + rollup_1m + latest_values + checkpoint)\n"
    "  both    insert then drain, each on a fresh schema; prints drain/insert\n"
    "  copy    PostgreSQL: the messages rows by COPY ... FROM STDIN (libpq, one COPY per\n"
    "          transaction of B rows), then drain; prints drain/COPY\n"
    "options:\n"
    "  --metrics M        numeric metrics per message (default 5)\n"
    "  --style S          payload shape: flat (default) | nested\n"
    "  --batch B          writer max batch = raw rows per transaction (default 2000)\n"
    "  --stmt-rows R      PostgreSQL/MySQL raw loop: rows per INSERT statement (default B)\n"
    "  --tables T         insert reference: messages | all | both (default both)\n"
    "  --writer-conflict  insert reference: end the messages INSERT in the writer's conflict\n"
    "                     clause (dedup; PostgreSQL: RETURNING the stored keys)\n"
    "  --cluster          drain: the writer of IOTD_CLUSTER=on (devices locked, alarms\n"
    "                     reloaded and commits NOTIFYed per batch)\n"
    "  --runs K           repeat K times, report medians (default 1)\n"
    "  --timeout SEC      give up on a drain after SEC seconds (default 900)\n"
    "  --base-ms MS       device time of message 0 (default: the newest message is ~now);\n"
    "                     equal values make two invocations write identical rows\n"
    "  --json             one JSON line on stdout\n"
    "The database at --db is WIPED before every run (SQLite: the file is deleted;\n"
    "PostgreSQL/MySQL: iotd's tables are dropped and migrated afresh).\n";

struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

struct Args {
  std::string mode;
  std::string db;
  std::optional<std::size_t> messages, devices;
  std::size_t metrics = 5;
  PayloadStyle style = PayloadStyle::flat;
  std::size_t batch = 2000;
  std::optional<std::size_t> stmt_rows;
  bool ref_messages = true, ref_all = true;
  bool writer_conflict = false;
  bool cluster = false;  // drain with IOTD_CLUSTER's writer (docs/architecture.md §21)
  std::size_t runs = 1;
  double timeout_s = 900;
  std::optional<std::int64_t> base_ms;
  bool json = false;
};

std::size_t to_size(const std::string& flag, const std::string& v, std::size_t min) {
  std::size_t pos = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(v, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  if (pos == 0 || pos != v.size() || v.front() == '-' || n < min)
    throw UsageError(flag + " needs a whole number >= " + std::to_string(min) + ", not '" + v + "'");
  return static_cast<std::size_t>(n);
}

Args parse_args(int argc, char** argv) {
  if (argc < 2) throw UsageError("missing subcommand");
  Args a;
  a.mode = argv[1];
  if (a.mode == "-h" || a.mode == "--help") {
    std::cout << kUsage;
    std::exit(0);
  }
  if (a.mode != "drain" && a.mode != "insert" && a.mode != "both" && a.mode != "copy")
    throw UsageError("unknown subcommand '" + a.mode + "'");
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--json") {
      a.json = true;
      continue;
    }
    if (flag == "--cluster") {
      a.cluster = true;
      continue;
    }
    if (flag == "--writer-conflict") {
      a.writer_conflict = true;
      continue;
    }
    if (flag == "-h" || flag == "--help") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (i + 1 >= argc) throw UsageError(flag.starts_with("--") ? flag + " needs a value" : "unexpected argument '" + flag + "'");
    const std::string v = argv[++i];
    if (flag == "--db") a.db = v;
    else if (flag == "--messages") a.messages = to_size(flag, v, 1);
    else if (flag == "--devices") a.devices = to_size(flag, v, 1);
    else if (flag == "--metrics") a.metrics = to_size(flag, v, 1);
    else if (flag == "--style") {
      try {
        a.style = parse_payload_style(v);
      } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
      }
    } else if (flag == "--batch") a.batch = to_size(flag, v, 1);
    else if (flag == "--stmt-rows") a.stmt_rows = to_size(flag, v, 1);
    else if (flag == "--runs") a.runs = to_size(flag, v, 1);
    else if (flag == "--timeout") a.timeout_s = static_cast<double>(to_size(flag, v, 1));
    else if (flag == "--base-ms") a.base_ms = static_cast<std::int64_t>(to_size(flag, v, 0));
    else if (flag == "--tables") {
      if (v != "messages" && v != "all" && v != "both")
        throw UsageError("--tables must be messages, all or both, not '" + v + "'");
      a.ref_messages = v != "all";
      a.ref_all = v != "messages";
    } else throw UsageError("unknown option '" + flag + "'");
  }
  if (a.db.empty()) throw UsageError("missing --db URL");
  if (!a.messages) throw UsageError("missing --messages N");
  if (!a.devices) throw UsageError("missing --devices D");
  return a;
}

// A fresh directory under $TMPDIR for the journal, removed with its contents.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "iotd-bench-store-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("cannot create a directory under " + tmpl);
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

double per_s(double n, double s) { return s > 0 ? n / s : 0; }
long long whole(double v) { return std::llround(v); }
double round_to(double v, int digits) {
  const double f = std::pow(10.0, digits);
  return std::round(v * f) / f;
}

// --- drain ---

Json run_drain(const storage::ConnectionSpec& spec, const Workload& w, const Args& a) {
  fresh_schema(spec);
  ScratchDir dir;
  journal::JournalOptions jo;
  jo.dir = dir.path() / "journal";
  jo.fsync = journal::FsyncPolicy::off;  // the fill is not what is measured
  jo.max_bytes = std::uint64_t{1} << 40;
  journal::Journal journal(jo);
  const auto fill0 = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < w.messages; ++i)
    if (journal.append(w.topic(i), w.payload(i), w.received_at_ms(i), 0) != journal::AppendResult::appended)
      throw std::runtime_error("cannot append to the journal in " + jo.dir.string());
  journal.sync();
  const double fill_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - fill0).count();
  const std::uint64_t target = journal.last_seq();

  auto store = storage::make_write_store(spec);
  storage::LatestCache latest;
  Counters counters;
  ingest::WriterOptions wo;
  wo.instance_id = "bench";
  wo.max_batch = a.batch;
  wo.cluster = a.cluster;
  wo.topics = pipeline::parse_topic_templates("sensors/{device_id}/data");
  ingest::JournalInput input(journal);
  ingest::Writer writer(wo, {&input}, *store, latest, counters);

  const auto t0 = std::chrono::steady_clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(a.timeout_s);
  writer.start();
  while (writer.committed_seq() < target) {
    if (std::chrono::steady_clock::now() > deadline) {
      writer.stop(std::chrono::milliseconds(0));
      throw std::runtime_error("the writer committed " + std::to_string(writer.committed_seq()) + " of " +
                               std::to_string(target) + " frames in " + std::to_string(static_cast<long long>(a.timeout_s)) +
                               " s; last error: " + writer.last_error());
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  writer.stop(std::chrono::seconds(5));
  const std::uint64_t commits = counters.commits.load();
  const std::uint64_t failures = counters.commit_failures.load();
  std::uint64_t rejects = 0;
  for (const auto& [_, n] : counters.rejects()) rejects += n;
  store.reset();

  const std::int64_t stored = count_rows(spec, "messages");
  if (stored != static_cast<std::int64_t>(w.messages))
    throw std::runtime_error("drain stored " + std::to_string(stored) + " messages, expected " +
                             std::to_string(w.messages) + " (rejects: " + std::to_string(rejects) +
                             ", commit failures: " + std::to_string(failures) +
                             ", last error: " + writer.last_error() + ")");
  Json j;
  j["messages"] = w.messages;
  j["readings"] = w.messages * w.metrics;
  j["elapsed_s"] = round_to(elapsed, 4);
  j["messages_per_s"] = whole(per_s(static_cast<double>(w.messages), elapsed));
  j["readings_per_s"] = whole(per_s(static_cast<double>(w.messages * w.metrics), elapsed));
  j["commits"] = commits;
  j["commit_failures"] = failures;
  j["rejects"] = rejects;
  j["stored_messages"] = stored;
  j["rollup_rows"] = count_rows(spec, "rollup_1m");
  j["latest_rows"] = count_rows(spec, "latest_values");
  j["journal_fill_s"] = round_to(fill_s, 3);
  return j;
}

// --- insert ---

Json raw_json(const RawResult& r) {
  Json j;
  j["method"] = r.method;
  j["messages"] = r.messages;
  j["rows"] = r.rows();
  j["rollup_rows"] = r.rollup_rows;
  j["latest_rows"] = r.latest_rows;
  j["checkpoint_rows"] = r.checkpoint_rows;
  j["transactions"] = r.transactions;
  j["statements"] = r.statements;
  j["elapsed_s"] = round_to(r.elapsed_s, 4);
  j["rows_per_s"] = whole(per_s(static_cast<double>(r.rows()), r.elapsed_s));
  j["messages_per_s"] = whole(per_s(static_cast<double>(r.messages), r.elapsed_s));
  return j;
}

Json run_insert(const storage::ConnectionSpec& spec, const Workload& w,
                const std::vector<MessageRow>& rows, const Args& a) {
  Json j;
  j["client"] = "SOCI 4.0 " + spec.backend + " backend (the library iotd uses)";
  auto one = [&](RawTables tables) {
    fresh_schema(spec);
    RawOptions o;
    o.batch = a.batch;
    o.stmt_rows = a.stmt_rows.value_or(a.batch);
    o.tables = tables;
    o.writer_conflict_clause = a.writer_conflict;
    RawResult r = raw_insert(spec, w, rows, o);
    const std::int64_t stored = count_rows(spec, "messages");
    if (stored != static_cast<std::int64_t>(w.messages))
      throw std::runtime_error("raw insert left " + std::to_string(stored) + " messages, expected " +
                               std::to_string(w.messages));
    return raw_json(r);
  };
  if (a.ref_messages) j["messages_table"] = one(RawTables::messages);
  if (a.ref_all) j["all_tables"] = one(RawTables::all);
  return j;
}

Json run_copy(const storage::ConnectionSpec& spec, const Workload& w, const std::vector<MessageRow>& rows,
              const Args& a) {
  fresh_schema(spec);
  RawOptions o;
  o.batch = a.batch;
  o.copy = true;
  RawResult r = raw_insert(spec, w, rows, o);
  const std::int64_t stored = count_rows(spec, "messages");
  if (stored != static_cast<std::int64_t>(w.messages))
    throw std::runtime_error("COPY left " + std::to_string(stored) + " messages, expected " +
                             std::to_string(w.messages));
  return raw_json(r);
}

// --- reports ---

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The run's headline numbers, by name (for medians and the readable lines).
std::map<std::string, double> headline(const Json& run) {
  std::map<std::string, double> h;
  if (run.contains("insert")) {
    const Json& ins = run["insert"];
    if (ins.contains("messages_table"))
      h["insert_rows_per_s"] = ins["messages_table"]["rows_per_s"].get<double>();
    if (ins.contains("all_tables")) {
      h["insert_all_rows_per_s"] = ins["all_tables"]["rows_per_s"].get<double>();
      h["insert_all_messages_per_s"] = ins["all_tables"]["messages_per_s"].get<double>();
    }
  }
  if (run.contains("copy")) h["copy_rows_per_s"] = run["copy"]["rows_per_s"].get<double>();
  if (run.contains("drain")) {
    h["drain_messages_per_s"] = run["drain"]["messages_per_s"].get<double>();
    h["drain_readings_per_s"] = run["drain"]["readings_per_s"].get<double>();
    h["drain_commits"] = run["drain"]["commits"].get<double>();
  }
  if (h.contains("drain_messages_per_s") && h.contains("insert_rows_per_s") && h["insert_rows_per_s"] > 0)
    h["ratio"] = h["drain_messages_per_s"] / h["insert_rows_per_s"];
  if (h.contains("drain_messages_per_s") && h.contains("insert_all_messages_per_s") &&
      h["insert_all_messages_per_s"] > 0)
    h["ratio_all_tables"] = h["drain_messages_per_s"] / h["insert_all_messages_per_s"];
  if (h.contains("drain_messages_per_s") && h.contains("copy_rows_per_s") && h["copy_rows_per_s"] > 0)
    h["ratio_copy"] = h["drain_messages_per_s"] / h["copy_rows_per_s"];
  return h;
}

std::string fmt(double v, int decimals = 0) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string readable_run(const Json& run, const std::map<std::string, double>& h) {
  std::string out;
  if (run.contains("insert")) {
    const Json& ins = run["insert"];
    if (ins.contains("messages_table")) {
      const Json& m = ins["messages_table"];
      out += "insert (messages table): " + std::to_string(m["rows"].get<std::size_t>()) + " rows in " +
             fmt(m["elapsed_s"].get<double>(), 3) + " s = " + fmt(m["rows_per_s"].get<double>()) + " rows/s";
    }
    if (ins.contains("all_tables")) {
      const Json& m = ins["all_tables"];
      if (!out.empty()) out += "; ";
      out += "insert (all tables): " + std::to_string(m["messages"].get<std::size_t>()) + " messages + " +
             std::to_string(m["rollup_rows"].get<std::size_t>()) + " rollup + " +
             std::to_string(m["latest_rows"].get<std::size_t>()) + " latest + " +
             std::to_string(m["checkpoint_rows"].get<std::size_t>()) + " checkpoint rows in " +
             fmt(m["elapsed_s"].get<double>(), 3) + " s = " + fmt(m["rows_per_s"].get<double>()) +
             " rows/s, " + fmt(m["messages_per_s"].get<double>()) + " msg/s";
    }
  }
  if (run.contains("copy")) {
    const Json& c = run["copy"];
    out += "COPY (messages table): " + std::to_string(c["rows"].get<std::size_t>()) + " rows in " +
           fmt(c["elapsed_s"].get<double>(), 3) + " s = " + fmt(c["rows_per_s"].get<double>()) + " rows/s";
  }
  if (run.contains("drain")) {
    const Json& d = run["drain"];
    if (!out.empty()) out += "; ";
    out += "drain: " + std::to_string(d["messages"].get<std::size_t>()) + " messages (" +
           std::to_string(d["readings"].get<std::size_t>()) + " readings) in " +
           fmt(d["elapsed_s"].get<double>(), 3) + " s = " + fmt(d["messages_per_s"].get<double>()) +
           " msg/s, " + fmt(d["readings_per_s"].get<double>()) + " readings/s, " +
           std::to_string(d["commits"].get<std::uint64_t>()) + " commits, " +
           std::to_string(d["stored_messages"].get<std::int64_t>()) + " stored";
  }
  if (h.contains("ratio")) out += "; drain/insert = " + fmt(h.at("ratio"), 3);
  if (h.contains("ratio_copy")) out += "; drain/COPY = " + fmt(h.at("ratio_copy"), 3);
  if (h.contains("ratio_all_tables")) out += " (vs all tables " + fmt(h.at("ratio_all_tables"), 3) + ")";
  return out;
}

int run(const Args& a) {
  const storage::ConnectionSpec spec = [&] {
    try {
      return storage::parse_database_url(a.db);
    } catch (const std::invalid_argument& e) {
      throw UsageError(std::string("bad --db URL: ") + e.what());
    }
  }();
  if (a.mode == "copy" && spec.dialect != "postgresql") throw UsageError("copy needs a postgresql:// --db");
  Workload w = make_workload(*a.messages, *a.devices, a.metrics, a.style, time::now_ms());
  if (a.base_ms) w.base_ms = *a.base_ms;
  std::vector<MessageRow> rows;
  if (a.mode != "drain") rows = message_rows(w);

  Json runs = Json::array();
  for (std::size_t k = 0; k < a.runs; ++k) {
    Json r;
    if (a.mode == "copy")
      r["copy"] = run_copy(spec, w, rows, a);
    else if (a.mode != "drain")
      r["insert"] = run_insert(spec, w, rows, a);
    if (a.mode != "insert") r["drain"] = run_drain(spec, w, a);
    const auto h = headline(r);
    if (h.contains("ratio")) r["ratio"] = round_to(h.at("ratio"), 4);
    if (h.contains("ratio_copy")) r["ratio_copy"] = round_to(h.at("ratio_copy"), 4);
    if (h.contains("ratio_all_tables")) r["ratio_all_tables"] = round_to(h.at("ratio_all_tables"), 4);
    if (!a.json)
      std::cout << (a.runs > 1 ? "run " + std::to_string(k + 1) + "/" + std::to_string(a.runs) + ": " : "")
                << readable_run(r, h) << std::endl;
    runs.push_back(std::move(r));
  }

  std::map<std::string, std::vector<double>> series;
  for (const Json& r : runs)
    for (const auto& [name, v] : headline(r)) series[name].push_back(v);
  Json med;
  for (const auto& [name, v] : series)
    if (name.starts_with("ratio"))
      med[name] = round_to(median(v), 4);
    else
      med[name] = whole(median(v));

  const auto settings = server_settings(spec);
  Json server;
  for (const auto& [k, v] : settings) server[k] = v;

  if (a.json) {
    Json out;
    out["bench"] = "store";
    out["mode"] = a.mode;
    out["backend"] = spec.dialect;
    out["db"] = spec.display;
    out["workload"] = {{"messages", w.messages}, {"devices", w.devices}, {"metrics", w.metrics},
                       {"style", to_string(w.style)}, {"base_ms", w.base_ms}, {"batch", a.batch},
                       {"stmt_rows", a.stmt_rows.value_or(a.batch)}};
    out["server"] = server;
    out["runs"] = runs;
    out["median"] = med;
    std::cout << out.dump() << std::endl;
    return 0;
  }
  std::string s;
  for (const auto& [k, v] : settings) s += (s.empty() ? "" : ", ") + k + "=" + v;
  std::cout << "database " << spec.display << " (" << s << "); " << w.messages << " messages, "
            << w.devices << " devices, " << w.metrics << " metrics, " << to_string(w.style)
            << " payloads, batch " << a.batch << std::endl;
  if (a.runs > 1) {
    std::string m = "median of " + std::to_string(a.runs) + ":";
    for (const auto& [name, v] : med.items())
      m += " " + name + "=" + (name.starts_with("ratio") ? fmt(v.get<double>(), 3) : fmt(v.get<double>()));
    std::cout << m << std::endl;
  }
  return 0;
}

}  // namespace
}  // namespace iotd::bench

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_color_mt("iotd-bench-store");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::warn);
  try {
    return iotd::bench::run(iotd::bench::parse_args(argc, argv));
  } catch (const iotd::bench::UsageError& e) {
    std::cerr << "iotd-bench-store: " << e.what() << "\n" << iotd::bench::kUsage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "iotd-bench-store: " << e.what() << std::endl;
    return 1;
  }
}
