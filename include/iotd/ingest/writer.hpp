// The writer (docs/architecture.md §7): takes raw messages from its inputs (WriterInput: the journal for
// MQTT, the submission queue for HTTP), decodes them (on a second thread, one batch ahead),
// applies the alarm rules and commits each batch — messages, rollups, latest values, alert
// changes, command acks, rejects and the durable input's checkpoint — in one transaction,
// taking whatever is there (natural group commit). Transient database errors are retried
// with back-off; a batch that fails permanently is bisected until the poisoned message is
// found and moved to rejects. Inputs hear about their messages only after the commit.
// start()/stop() from the owning thread; the getters are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "iotd/core/counters.hpp"
#include "iotd/core/reading.hpp"
#include "iotd/ingest/command_ack.hpp"
#include "iotd/ingest/retention.hpp"
#include "iotd/ingest/rules.hpp"
#include "iotd/ingest/writer_input.hpp"
#include "iotd/pipeline/decoder.hpp"
#include "iotd/pipeline/topic.hpp"
#include "iotd/storage/latest_cache.hpp"
#include "iotd/storage/store.hpp"

namespace iotd::ingest {

struct WriterOptions {
  std::string instance_id = "iotd";
  std::size_t max_batch = 2000;
  // A batch smaller than max_batch / 4 waits this long for more frames before it commits.
  std::chrono::milliseconds commit_delay{0};
  std::size_t max_batch_bytes = 16u << 20;
  pipeline::DecoderOptions decoder;
  // MQTT topics and the kind of message each carries (telemetry, command_ack); the first
  // matching template wins.
  std::vector<pipeline::TopicTemplate> topics;
  bool ignore_retained = true;
  bool auto_register = true;
  std::int64_t max_devices = 100000;
  std::size_t rejects_max_bytes = 64 * 1024;
  std::chrono::milliseconds retry_min{100};
  std::chrono::milliseconds retry_max{5000};
  // Retention (docs/architecture.md §17): steps run on the writer thread between commits.
  RetentionOptions retention;
  // Several instances on one database (IOTD_CLUSTER, docs/architecture.md §21): before the
  // rules run, each batch locks its devices' rows and reloads their active alarms.
  bool cluster = false;
};

// What one commit made visible; handed to the listener (live stream) after the commit.
// rejects.reason of an HTTP message whose payload names another device than its key's.
inline constexpr std::string_view kDeviceMismatch = "device_mismatch";

// Several instances (docs/architecture.md §21): the PostgreSQL channel the writer NOTIFYs
// each commit's message and alert ids on.
inline constexpr std::string_view kClusterCommitChannel = "iotd_commits";

struct CommitEvent {
  std::vector<Reading> readings;       // stored (not deduplicated) readings, journal order
  std::vector<std::int64_t> reading_ids;  // their message row ids, parallel to readings
  std::vector<storage::Alert> alerts;  // alerts raised, updated or cleared, final state
};

// The group-commit wait of a batch a live-stream client watches (when commit_delay is longer).
inline constexpr std::chrono::milliseconds kWatchedCommitDelay{2};

class Writer {
 public:
  // `inputs` (at least one, outliving the writer): the writer waits on the first and the
  // others wake it through their ready hook. At most one may be durable (checkpoint_id()).
  Writer(WriterOptions opts, std::vector<WriterInput*> inputs, storage::WriteStore& store,
         storage::LatestCache& latest, Counters& counters);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Loads the checkpoint, active alarms, rules and latest values, positions the durable
  // input and starts the threads. Throws if the database cannot be read.
  void start();
  // Commits what the inputs hold (intake must be stopped first), waiting at most
  // `drain_timeout` (a database outage would otherwise hold shutdown forever: the journal
  // keeps whatever is left for the next start; other inputs hear abandoned()), then joins
  // the threads.
  void stop(std::chrono::milliseconds drain_timeout);

  // Called on the writer thread after each commit with the event moved out (the live hub
  // keeps it without copying); must not block.
  void set_commit_listener(std::function<void(CommitEvent&&)> listener);
  // Before start(): whether a live-stream client watches a device (lock-free, cheap: read
  // for every reading of a small batch). A batch holding such a device waits at most
  // kWatchedCommitDelay for company, not commit_delay (docs/architecture.md §7, §15).
  void set_stream_watch(std::function<bool(std::string_view device_id)> watching) {
    stream_watch_ = std::move(watching);
  }
  // Before start(): where command acks go. Without one they are accepted and dropped.
  void set_ack_sink(CommandAckSink* sink) { ack_sink_ = sink; }
  void reload_rules();  // picked up before the next batch
  // The devices API created, changed or deleted the device: before its next batch the
  // writer drops what its store caches about it (pk, type, deleted), reloads the active
  // alarms (a purge deletes alerts) and, when the device is gone, its latest values.
  // Thread-safe.
  void device_changed(std::string device_id);

  // The durable input's last committed seq.
  std::uint64_t committed_seq() const { return committed_seq_.load(); }
  bool database_ok() const { return database_ok_.load(); }
  std::string last_error() const;

 private:
  struct Prepared;
  struct DecodedFrame;  // an input message and what the decoder made of it
  struct Handoff;       // decoded batches, decode thread -> writer thread
  void decode_loop();
  enum class Latency { none, watched, caller_waits };
  Latency latency_matters(std::span<const DecodedFrame> batch) const;
  std::size_t read_inputs(std::vector<InputMessage>& out, std::size_t max_items,
                          std::size_t max_bytes, std::chrono::milliseconds wait);
  void run();
  void process(std::span<DecodedFrame> frames);
  Prepared prepare(std::span<DecodedFrame> frames);
  DecodedFrame decode_frame(InputMessage msg) const;
  void commit(Prepared& p, std::span<DecodedFrame> frames);
  void commit_poisoned(DecodedFrame& df, const std::string& what);
  void notify_cluster(const std::vector<std::optional<std::int64_t>>& ids,
                      const std::vector<storage::Alert>& alerts);
  void load_shared_alarms(const Prepared& p, const std::vector<std::optional<std::int64_t>>& ids,
                          AlarmBook& book);
  void notify_committed(std::span<DecodedFrame> frames);
  static void abandon(std::span<DecodedFrame> frames);
  const InputMessage* last_durable(std::span<DecodedFrame> frames) const;
  void backoff(int attempt);
  void set_error(const std::string& what);
  void apply_device_changes();
  void maybe_run_retention();
  std::chrono::milliseconds idle_wait() const;
  storage::RejectRecord make_reject(const InputMessage& m, std::string_view reason,
                                    std::string detail) const;

  WriterOptions opts_;
  std::vector<WriterInput*> inputs_;
  WriterInput* durable_ = nullptr;  // the input checkpointed in the transaction, if any
  CommandAckSink* ack_sink_ = nullptr;
  storage::WriteStore& store_;
  storage::LatestCache& latest_;
  Counters& counters_;

  Retention retention_;  // writer thread only
  RuleSet rules_;
  AlarmBook book_;  // committed alarm state; writer thread only
  std::string checkpoint_id_;  // durable_->checkpoint_id() at start
  std::function<void(CommitEvent&&)> listener_;
  std::function<bool(std::string_view)> stream_watch_;  // set_stream_watch()

  std::atomic<bool> stopping_{false};
  std::atomic<bool> reload_rules_{false};
  std::atomic<bool> devices_changed_{false};
  std::mutex devices_mu_;
  std::vector<std::string> changed_devices_;  // guarded by devices_mu_
  std::atomic<std::int64_t> drain_deadline_ms_{0};
  std::atomic<std::uint64_t> committed_seq_{0};
  std::atomic<bool> database_ok_{true};
  mutable std::mutex error_mu_;
  std::string last_error_;  // guarded by error_mu_
  std::unique_ptr<Handoff> handoff_;
  // The decode thread reads the inputs and decodes the next batch while this thread's
  // batch commits (decoding is pure; device lookups, rules and SQL stay on thread_).
  std::jthread decode_thread_;
  std::jthread thread_;
};

}  // namespace iotd::ingest
