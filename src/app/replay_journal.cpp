// `iotd replay-journal` (issue 13, docs/scaling.md §2): commits the journal of an instance
// that will not come back, from any machine that can read its volume. The writer runs as
// that instance (its IOTD_INSTANCE_ID names the checkpoint row, so frames it already
// committed are skipped); content dedup drops what another member stored after a
// redelivery. No MQTT, no HTTP. The directory is then renamed, so that neither a second
// replay nor the instance itself (should it return) picks it up again.
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <optional>
#include <thread>

#include "app_parts.hpp"
#include "iotd/app/app.hpp"
#include "iotd/core/counters.hpp"
#include "iotd/ingest/command_ack.hpp"
#include "iotd/ingest/journal_input.hpp"
#include "iotd/ingest/writer.hpp"
#include "iotd/journal/journal.hpp"
#include "iotd/journal/journal_owner.hpp"
#include "iotd/storage/latest_cache.hpp"

namespace iotd::app {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The writer made no progress for this long while frames remain: give up (exit 1); the
// journal stays where it is for the next attempt.
constexpr auto kStallLimit = 120s;

std::string utc_stamp() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

int usage_error(const std::string& why) {
  std::fprintf(stderr, "iotd replay-journal: %s\n", why.c_str());
  return 2;
}

}  // namespace

int run_replay_journal(const config::Invocation& inv) {
  config::Config cfg = inv.config;
  const auto src = [&](const char* key) {
    auto it = cfg.sources.find(key);
    return it == cfg.sources.end() ? std::string("default") : it->second;
  };
  if (src("IOTD_JOURNAL_DIR") == "default")
    return usage_error("--journal-dir DIR is required (the dead instance's journal directory)");
  const fs::path dir = cfg.journal_dir;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return usage_error(dir.string() + " is not a directory");
  std::optional<std::string> owner;
  try {
    owner = journal::journal_owner(dir);
  } catch (const std::exception& e) {
    return usage_error(e.what());
  }
  if (src("IOTD_INSTANCE_ID") == "default") {
    if (!owner)
      return usage_error(dir.string() + " records no instance id (no file '" + journal::kInstanceFile +
                         "'): give the dead instance's id with --instance-id ID");
    cfg.instance_id = *owner;
  } else if (owner && *owner != cfg.instance_id) {
    return usage_error(dir.string() + " belongs to instance '" + *owner + "', not '" + cfg.instance_id +
                       "': drop --instance-id or give the recorded one");
  }

  const auto spec = detail::connection_spec_of(cfg);
  const auto report = storage::migrate(spec);
  if (report.applied > 0) spdlog::info("database {}: applied {} migration(s)", spec.display, report.applied);
  auto store = storage::make_write_store(spec);
  journal::JournalOptions jo;
  jo.dir = dir;
  jo.fsync = journal::parse_fsync_policy(cfg.journal_fsync);
  jo.max_bytes = cfg.journal_max_bytes;
  jo.segment_bytes = cfg.journal_segment_bytes;
  Counters counters;
  std::uint64_t from = 0, last = 0;
  {
    // Opening takes the journal's lock: a live instance on this directory (same host) makes
    // this fail instead of two writers committing the same frames.
    journal::Journal journal(jo);
    const auto& rec = journal.recovery();
    if (rec.truncated_bytes || rec.quarantined_segments)
      spdlog::warn("journal recovery: truncated {} torn bytes, quarantined {} segment(s)", rec.truncated_bytes,
                   rec.quarantined_segments);
    storage::LatestCache latest;
    ingest::WriterOptions wo;
    wo.instance_id = cfg.instance_id;
    wo.max_batch = static_cast<std::size_t>(cfg.max_batch);
    wo.commit_delay = cfg.commit_delay;
    wo.decoder = detail::decoder_options_of(cfg);
    wo.topics = detail::topic_templates_of(cfg);
    wo.ignore_retained = cfg.mqtt_ignore_retained;
    wo.auto_register = cfg.auto_register;
    wo.max_devices = cfg.max_devices;
    wo.rejects_max_bytes = cfg.rejects_max_bytes;
    ingest::JournalInput input(journal);
    ingest::StoringAckSink acks(counters);
    ingest::Writer writer(wo, std::vector<ingest::WriterInput*>{&input}, *store, latest, counters);
    writer.set_ack_sink(&acks);
    writer.start();
    last = journal.last_seq();
    from = writer.committed_seq();
    spdlog::info("replay-journal: {} (instance '{}'): frames {}..{} to commit into {}", dir.string(),
                 cfg.instance_id, from + 1, last, spec.display);

    auto progress = writer.committed_seq();
    auto progress_at = std::chrono::steady_clock::now();
    while (writer.committed_seq() < last) {
      std::this_thread::sleep_for(50ms);
      if (writer.committed_seq() != progress) {
        progress = writer.committed_seq();
        progress_at = std::chrono::steady_clock::now();
      } else if (std::chrono::steady_clock::now() - progress_at > kStallLimit) {
        break;
      }
    }
    writer.stop(30s);
    journal.sync();
    if (writer.committed_seq() < last) {
      spdlog::critical("replay-journal: committed through seq {} of {} ({}); the journal stays in {}",
                       writer.committed_seq(), last, writer.last_error(), dir.string());
      return 1;
    }
  }
  // Done: renamed (the Journal has released its lock) so that it is not replayed again.
  fs::path done = dir;
  done += ".replayed-" + utc_stamp();
  fs::rename(dir, done, ec);
  std::uint64_t rejected = 0;
  for (const auto& [reason, n] : counters.rejects()) rejected += n;
  spdlog::info("replay-journal: committed frames {}..{}: {} message(s) stored, {} already stored "
               "(deduplicated), {} rejected",
               from + 1, last, counters.messages_stored.load(), counters.messages_deduplicated.load(), rejected);
  if (ec) {
    spdlog::critical("replay-journal: committed, but cannot rename {} to {}: {}; rename or delete it by hand",
                     dir.string(), done.string(), ec.message());
    return 1;
  }
  spdlog::info("replay-journal: {} renamed to {}", dir.string(), done.string());
  return 0;
}

}  // namespace iotd::app
