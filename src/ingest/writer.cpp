#include "iotd/ingest/writer.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <optional>
#include <stdexcept>
#include <unordered_set>

#include "iotd/core/time.hpp"
#include "iotd/journal/journal.hpp"
#include "iotd/core/log.hpp"
#include "iotd/core/thread_name.hpp"

namespace iotd::ingest {

struct Writer::DecodedFrame {
  InputMessage msg;
  bool retained = false;                    // skipped: retained and ignore_retained
  std::optional<pipeline::Rejection> rejection;
  pipeline::Decoded decoded;                // telemetry, when none of the above
  std::optional<CommandAck> ack;            // a command ack, when none of the above
  std::optional<pipeline::Rejection> refused;  // by prepare(): device admission
  bool consumed = false;                    // prepare() moved `decoded`/`ack` out
  bool settled = false;                     // its input has heard committed()/abandoned()
  std::uint32_t first_reading = 0;          // its readings in Prepared::readings
  std::uint32_t reading_count = 0;
};

// One decoded batch waits here while the previous one commits.
struct Writer::Handoff {
  static constexpr std::size_t kDepth = 1;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<DecodedFrame>> batches;  // guarded by mu
  bool done = false;     // the decode thread has ended (stopping, inputs drained)
  bool abandon = false;  // the writer thread has ended: stop decoding
};

struct Writer::Prepared {
  std::vector<Reading> readings;
  std::vector<storage::RejectRecord> rejects;
  std::vector<CommandAck> acks;
  pipeline::DecodeNotes notes;
  std::uint64_t skipped_retained = 0;
};

Writer::Writer(WriterOptions opts, std::vector<WriterInput*> inputs, storage::WriteStore& store,
               storage::LatestCache& latest, Counters& counters)
    : opts_(std::move(opts)),
      inputs_(std::move(inputs)),
      store_(store),
      latest_(latest),
      counters_(counters),
      retention_(opts_.retention, counters),
      handoff_(std::make_unique<Handoff>()) {
  if (inputs_.empty() || std::count(inputs_.begin(), inputs_.end(), nullptr) > 0)
    throw std::invalid_argument("the writer needs at least one input");
  for (auto* in : inputs_) {
    if (in->checkpoint_id().empty()) continue;
    if (durable_) throw std::invalid_argument("the writer takes at most one durable input");
    durable_ = in;
  }
}

Writer::~Writer() {
  if (thread_.joinable()) stop(std::chrono::milliseconds(0));
}

void Writer::set_commit_listener(std::function<void(CommitEvent&&)> listener) {
  listener_ = std::move(listener);
}

void Writer::reload_rules() { reload_rules_ = true; }

void Writer::device_changed(std::string device_id) {
  {
    std::lock_guard lock(devices_mu_);
    changed_devices_.push_back(std::move(device_id));
  }
  devices_changed_ = true;
}

// Writer thread, between batches (outside a transaction).
void Writer::apply_device_changes() {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(devices_mu_);
    ids.swap(changed_devices_);
  }
  try {
    for (const auto& id : ids) {
      store_.forget_device(id);
      if (!store_.device_known(id)) latest_.erase(id);
    }
    book_.load(store_.active_alerts());
  } catch (const std::exception& e) {
    spdlog::error("applying device changes failed (will retry): {}", e.what());
    std::lock_guard lock(devices_mu_);
    for (auto& id : ids) changed_devices_.push_back(std::move(id));
    devices_changed_ = true;
  }
}

std::string Writer::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

void Writer::set_error(const std::string& what) {
  std::lock_guard lock(error_mu_);
  last_error_ = what;
}

void Writer::start() {
  std::uint64_t after = 0;
  if (durable_) {
    checkpoint_id_ = durable_->checkpoint_id();
    auto cp = store_.load_checkpoint(opts_.instance_id);
    if (cp && cp->journal_uuid == checkpoint_id_) {
      after = cp->seq;
    } else if (cp) {
      spdlog::warn("journal {} is not the one checkpointed ({}): replaying all {} frames on disk; "
                   "content dedup keeps the database free of duplicates",
                   checkpoint_id_, cp->journal_uuid, durable_->last_seq());
    }
    durable_->resume_after(after);
  }
  committed_seq_ = after;
  rules_ = RuleSet(store_.rules());
  book_.load(store_.active_alerts());
  latest_.load(store_.load_latest());
  if (durable_ && durable_->last_seq() > after)
    spdlog::info("replaying journal frames {}..{} not yet committed", after + 1, durable_->last_seq());
  WriterInput* waited = inputs_.front();
  for (std::size_t i = 1; i < inputs_.size(); ++i) inputs_[i]->set_ready_hook([waited] { waited->wake(); });
  decode_thread_ = std::jthread([this] {
    set_thread_name("iotd-decode");
    decode_loop();
  });
  thread_ = std::jthread([this] {
    set_thread_name("iotd-writer");
    run();
  });
}

void Writer::stop(std::chrono::milliseconds drain_timeout) {
  drain_deadline_ms_ = time::now_ms() + drain_timeout.count();
  stopping_ = true;
  inputs_.front()->wake();
  {
    std::lock_guard lock(handoff_->mu);  // ends a commit delay in progress
    handoff_->cv.notify_all();
  }
  if (thread_.joinable()) thread_.join();  // its exit releases the decode thread
  if (decode_thread_.joinable()) decode_thread_.join();
  for (std::size_t i = 1; i < inputs_.size(); ++i) inputs_[i]->set_ready_hook({});
}

// The other inputs first, with up to half the batch, so that a busy journal cannot starve
// them; then the waited-on input, which blocks only when nothing was found.
std::size_t Writer::read_inputs(std::vector<InputMessage>& out, std::size_t max_items,
                                std::size_t max_bytes, std::chrono::milliseconds wait) {
  std::size_t added = 0;
  std::size_t bytes = 0;
  for (std::size_t i = 1; i < inputs_.size() && added < max_items / 2 + 1; ++i) {
    const std::size_t before = out.size();
    added += inputs_[i]->read(out, std::max<std::size_t>(1, max_items / 2 - added), max_bytes, std::chrono::milliseconds(0));
    for (std::size_t k = before; k < out.size(); ++k) bytes += out[k].topic.size() + out[k].payload.size();
  }
  if (added < max_items && bytes < max_bytes)
    added += inputs_.front()->read(out, max_items - added, max_bytes - bytes,
                                   added > 0 ? std::chrono::milliseconds(0) : wait);
  return added;
}

void Writer::decode_loop() {
  log::ModuleScope module("writer");
  Handoff& h = *handoff_;
  std::vector<InputMessage> msgs;
  msgs.reserve(opts_.max_batch);
  std::vector<DecodedFrame> batch;
  while (true) {
    msgs.clear();
    const bool stopping = stopping_;
    try {
      read_inputs(msgs, opts_.max_batch, opts_.max_batch_bytes,
                  stopping ? std::chrono::milliseconds(0) : std::chrono::milliseconds(200));
    } catch (const std::exception& e) {
      spdlog::error("journal read failed: {}", e.what());
      if (msgs.empty()) {
        if (stopping) break;  // the journal keeps the frames for the next start
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        continue;
      }
    }
    if (msgs.empty()) {
      if (stopping) break;
      std::lock_guard lock(h.mu);
      if (h.abandon) break;
      continue;
    }
    batch.clear();
    batch.reserve(msgs.size());
    for (auto& m : msgs) batch.push_back(decode_frame(std::move(m)));
    msgs.clear();
    // Group commit: a small batch waits a little for company (one transaction per few
    // messages costs most of the CPU and disk writes at moderate rates). It sleeps, then
    // takes what came: waiting in read() would wake this thread for every appended frame.
    // A batch of a quarter of max_batch or more means a high rate, where frames pile up
    // on their own while the previous batch is decoded; sleeping then would only cap the
    // rate at max_batch per (delay + decode time).
    // HTTP ingest callers wait for this commit to be answered (and closed-loop clients send
    // nothing more until then): a batch holding their messages never waits for company.
    // A live-stream client watching one of the batch's devices waits for its frame: that
    // batch waits at most kWatchedCommitDelay (no wait at all cost more CPU per message
    // than it saved in latency: docs/architecture.md §7, BENCHMARKS.md).
    const Latency latency = latency_matters(batch);
    const auto delay = latency == Latency::watched ? std::min(opts_.commit_delay, kWatchedCommitDelay)
                                                   : opts_.commit_delay;
    if (!stopping && latency != Latency::caller_waits && delay.count() > 0 &&
        batch.size() < opts_.max_batch / 4) {
      {
        std::unique_lock lock(h.mu);
        h.cv.wait_for(lock, delay, [&] { return stopping_.load() || h.abandon; });
      }
      std::size_t bytes = 0;
      for (const auto& d : batch) bytes += d.msg.topic.size() + d.msg.payload.size();
      try {
        if (bytes < opts_.max_batch_bytes)  // the batch's byte bound holds across both reads
          read_inputs(msgs, opts_.max_batch - batch.size(), opts_.max_batch_bytes - bytes,
                      std::chrono::milliseconds(0));
      } catch (const std::exception& e) {
        spdlog::error("journal read failed: {}", e.what());  // commit what was read
      }
      for (auto& m : msgs) batch.push_back(decode_frame(std::move(m)));
    }
    std::unique_lock lock(h.mu);
    h.cv.wait(lock, [&] { return h.batches.size() < Handoff::kDepth || h.abandon; });
    if (h.abandon) {
      lock.unlock();
      abandon(batch);
      break;
    }
    h.batches.push_back(std::move(batch));
    batch = {};
    h.cv.notify_all();
  }
  std::lock_guard lock(h.mu);
  h.done = true;
  h.cv.notify_all();
}

// Whether an HTTP caller waits for the batch, or a stream client watches one of its devices.
Writer::Latency Writer::latency_matters(std::span<const DecodedFrame> batch) const {
  Latency out = Latency::none;
  for (const auto& d : batch) {
    if (d.msg.source == MessageSource::http) return Latency::caller_waits;
    if (!stream_watch_ || out == Latency::watched) continue;
    for (const auto& r : d.decoded.readings)
      if (stream_watch_(r.device_id)) {
        out = Latency::watched;
        break;
      }
  }
  return out;
}

void Writer::run() {
  log::ModuleScope module("writer");
  Handoff& h = *handoff_;
  std::vector<DecodedFrame> batch;
  while (true) {
    batch.clear();
    {
      std::unique_lock lock(h.mu);
      h.cv.wait_for(lock, idle_wait(), [&] { return !h.batches.empty() || h.done; });
      if (h.batches.empty()) {
        if (h.done) break;
        lock.unlock();
        maybe_run_retention();
        continue;
      }
      batch = std::move(h.batches.front());
      h.batches.pop_front();
      h.cv.notify_all();
    }
    // Checked after the batch is taken, not before the wait: a rule changed while the
    // writer waited already applies to the batch that woke it.
    if (devices_changed_.exchange(false)) apply_device_changes();
    if (reload_rules_.exchange(false)) {
      try {
        rules_ = RuleSet(store_.rules());
      } catch (const std::exception& e) {
        spdlog::error("reloading rules failed: {}", e.what());
        reload_rules_ = true;
      }
    }
    try {
      process(batch);
    } catch (const std::exception& e) {
      // Only reached when stopping during an outage: the journal keeps the frames.
      const std::uint64_t left = durable_ ? durable_->last_seq() - committed_seq_.load() : 0;
      spdlog::warn("writer stopped with {} journal frames uncommitted: {}", left, e.what());
      abandon(batch);
      batch.clear();
      break;
    }
    maybe_run_retention();
    if (stopping_ && time::now_ms() > drain_deadline_ms_) {
      if (durable_ && durable_->last_seq() > committed_seq_)
        spdlog::warn("shutdown drain timed out: {} frames stay in the journal for the next start",
                     durable_->last_seq() - committed_seq_.load());
      break;
    }
  }
  std::deque<std::vector<DecodedFrame>> left;
  {
    std::lock_guard lock(h.mu);
    h.abandon = true;
    left.swap(h.batches);
    h.cv.notify_all();
  }
  for (auto& b : left) abandon(b);
}

// Between batches, outside a transaction: one bounded retention step when one is due
// (docs/architecture.md §17). Not while stopping: the drain is for the inputs' messages.
void Writer::maybe_run_retention() {
  if (stopping_ || !retention_.due(Retention::Clock::now())) return;
  retention_.step(store_);
}

// How long the writer thread waits for a batch: 200 ms, or less when a retention step is due
// sooner.
std::chrono::milliseconds Writer::idle_wait() const {
  constexpr std::chrono::milliseconds kIdle{200};
  if (!retention_.enabled() || stopping_) return kIdle;
  const auto until = retention_.next_step() - Retention::Clock::now();
  if (until <= Retention::Clock::duration::zero()) return std::chrono::milliseconds(0);
  return std::min(kIdle, std::chrono::duration_cast<std::chrono::milliseconds>(until) + std::chrono::milliseconds(1));
}

// Tells each input, in runs of consecutive messages, that these will not commit now.
void Writer::abandon(std::span<DecodedFrame> frames) {
  std::vector<InputMessage> run;
  for (std::size_t i = 0; i < frames.size();) {
    WriterInput* in = frames[i].msg.input;
    run.clear();
    for (; i < frames.size() && frames[i].msg.input == in; ++i) {
      if (frames[i].settled) continue;
      frames[i].settled = true;
      run.push_back(std::move(frames[i].msg));
    }
    if (in && !run.empty()) in->abandoned(run);
  }
}

// After the commit: each input hears about its messages, in runs of consecutive ones.
void Writer::notify_committed(std::span<DecodedFrame> frames) {
  std::size_t i = 0;
  while (i < frames.size()) {
    WriterInput* in = frames[i].msg.input;
    std::size_t j = i;
    while (j < frames.size() && frames[j].msg.input == in) ++j;
    if (in == durable_) {
      // The journal needs only the last seq: no copy on the MQTT path.
      if (in) in->committed(std::span<InputMessage>(&frames[j - 1].msg, 1));
      for (std::size_t k = i; k < j; ++k) frames[k].settled = true;
    } else if (in) {
      std::vector<InputMessage> run;
      run.reserve(j - i);
      for (std::size_t k = i; k < j; ++k) {
        frames[k].settled = true;
        run.push_back(std::move(frames[k].msg));
      }
      in->committed(run);
    }
    i = j;
  }
}

const InputMessage* Writer::last_durable(std::span<DecodedFrame> frames) const {
  if (!durable_) return nullptr;
  for (auto it = frames.rbegin(); it != frames.rend(); ++it)
    if (it->msg.input == durable_) return &it->msg;
  return nullptr;
}

Writer::DecodedFrame Writer::decode_frame(InputMessage msg) const {
  DecodedFrame d;
  d.msg = std::move(msg);
  const InputMessage& m = d.msg;
  if (m.source == MessageSource::mqtt) {
    if ((m.flags & journal::kRetained) && opts_.ignore_retained) {
      d.retained = true;
      return d;
    }
    auto match = pipeline::classify_topic(opts_.topics, m.topic);
    if (!match) {
      d.rejection = pipeline::Rejection{std::string(pipeline::reason::unmatched_topic),
                                        "topic matches no IOTD_MQTT_TOPICS template"};
      return d;
    }
    if (match->kind == pipeline::MessageKind::command_ack) {
      auto ack = parse_command_ack(m.payload, match->device_id, m.received_at_ms);
      if (ack)
        d.ack = std::move(*ack);
      else
        d.rejection = std::move(ack.error());
      return d;
    }
    auto decoded = pipeline::decode({m.payload, match->device_id, m.received_at_ms}, opts_.decoder);
    if (!decoded)
      d.rejection = std::move(decoded.error());
    else
      d.decoded = std::move(*decoded);
    return d;
  }
  // HTTP: no topic; an authenticated device is the fallback id and must not be contradicted.
  auto decoded = pipeline::decode({m.payload, m.device_id, m.received_at_ms}, opts_.decoder);
  if (!decoded) {
    d.rejection = std::move(decoded.error());
    return d;
  }
  if (!m.device_id.empty()) {
    for (const auto& r : decoded->readings) {
      if (r.device_id == m.device_id) continue;
      d.rejection = pipeline::Rejection{std::string(kDeviceMismatch),
                                        "payload device_id " + r.device_id + " is not the key's device " +
                                            m.device_id};
      return d;
    }
  }
  d.decoded = std::move(*decoded);
  return d;
}

storage::RejectRecord Writer::make_reject(const InputMessage& m, std::string_view reason,
                                          std::string detail) const {
  storage::RejectRecord r;
  r.source = std::string(to_string(m.source));
  r.topic = m.topic;
  r.payload_size = static_cast<std::int64_t>(m.payload.size());
  r.payload = m.payload.substr(0, opts_.rejects_max_bytes);
  r.reason = std::string(reason);
  r.detail = std::move(detail);
  r.received_at_ms = m.received_at_ms;
  return r;
}

Writer::Prepared Writer::prepare(std::span<DecodedFrame> frames) {
  Prepared p;
  p.readings.reserve(frames.size());
  std::unordered_set<std::string> new_devices;
  std::int64_t device_count = -1;  // fetched lazily
  for (auto& df : frames) {
    // A frame prepared before (a retried or bisected batch) is decoded again.
    if (df.consumed) df = decode_frame(std::move(df.msg));
    const InputMessage& m = df.msg;
    df.reading_count = 0;
    df.refused.reset();
    if (df.retained) {
      ++p.skipped_retained;
      continue;
    }
    if (df.rejection) {
      p.rejects.push_back(make_reject(m, df.rejection->reason, df.rejection->detail));
      continue;
    }
    if (df.ack) {
      p.acks.push_back(std::move(*df.ack));
      df.consumed = true;
      continue;
    }
    auto* decoded = &df.decoded;
    const auto& n = decoded->notes;
    p.notes.nonfinite_dropped += n.nonfinite_dropped;
    p.notes.clock_skew += n.clock_skew;
    p.notes.bad_timestamp += n.bad_timestamp;
    if (n.device_id_mismatch) {
      counters_.device_id_mismatch++;
      spdlog::debug("payload device id differs from topic {}", m.topic);
    }
    // Device admission: auto-registration and the device limit.
    const std::string& id = decoded->readings.front().device_id;
    bool admitted = true;
    std::string why;
    std::string_view reason;
    for (const auto& r : decoded->readings) {
      if (new_devices.count(r.device_id) || store_.device_known(r.device_id)) continue;
      if (!opts_.auto_register) {
        admitted = false;
        reason = "unknown_device";
        why = "device " + r.device_id + " is not registered and IOTD_AUTO_REGISTER is false";
        break;
      }
      if (device_count < 0) device_count = store_.device_count();
      if (device_count + static_cast<std::int64_t>(new_devices.size()) >= opts_.max_devices) {
        admitted = false;
        reason = pipeline::reason::device_limit;
        why = "IOTD_MAX_DEVICES (" + std::to_string(opts_.max_devices) + ") reached; device " + id + " not admitted";
        break;
      }
      new_devices.insert(r.device_id);
    }
    if (!admitted) {
      df.refused = pipeline::Rejection{std::string(reason), why};
      p.rejects.push_back(make_reject(m, reason, std::move(why)));
      continue;
    }
    df.first_reading = static_cast<std::uint32_t>(p.readings.size());
    df.reading_count = static_cast<std::uint32_t>(decoded->readings.size());
    for (auto& r : decoded->readings) p.readings.push_back(std::move(r));
    df.consumed = true;
  }
  return p;
}

void Writer::process(std::span<DecodedFrame> frames) {
  // prepare() looks devices up in the database too, so it is retried like the commit.
  std::optional<Prepared> p;
  for (int attempt = 0;; ++attempt) {
    try {
      if (!p) p = prepare(frames);
      commit(*p, frames);
      return;
    } catch (const std::exception& e) {
      const bool transient = store_.last_error_transient();
      store_.rollback();
      counters_.commit_failures++;
      set_error(e.what());
      if (transient) {
        if (database_ok_) spdlog::error("database write failed (will retry): {}", e.what());
        database_ok_ = false;
        if (stopping_ && time::now_ms() > drain_deadline_ms_) throw;
        backoff(attempt);
        continue;
      }
      spdlog::error("batch of {} messages failed permanently ({}): isolating the bad one",
                    frames.size(), e.what());
      if (frames.size() > 1) {
        auto half = frames.size() / 2;
        process(frames.first(half));
        process(frames.subspan(half));
        return;
      }
      commit_poisoned(frames.front(), e.what());
      return;
    }
  }
}

void Writer::commit_poisoned(DecodedFrame& df, const std::string& what) {
  std::vector<storage::RejectRecord> rejects{make_reject(df.msg, "store_error", what)};
  const bool durable = durable_ && df.msg.input == durable_;
  for (int attempt = 0;; ++attempt) {
    try {
      store_.begin();
      store_.insert_rejects(rejects);
      if (durable) store_.save_checkpoint(opts_.instance_id, {checkpoint_id_, df.msg.seq});
      store_.commit();
      counters_.add_reject("store_error");
      if (durable) committed_seq_ = df.msg.seq;
      df.msg.outcome = ItemOutcome{ItemStatus::rejected, "store_error", what};
      notify_committed(std::span<DecodedFrame>(&df, 1));
      return;
    } catch (const std::exception& e) {
      store_.rollback();
      set_error(e.what());
      database_ok_ = false;
      if (stopping_ && time::now_ms() > drain_deadline_ms_) throw;
      backoff(attempt);
    }
  }
}

void Writer::commit(Prepared& p, std::span<DecodedFrame> frames) {
  AlarmBook book = book_;  // transitions apply to a copy, swapped in after the commit
  book.clear_pending();
  std::vector<AlarmChange> events;
  const InputMessage* checkpoint = last_durable(frames);

  const auto begun = std::chrono::steady_clock::now();
  store_.begin();
  auto ids = store_.insert_messages(p.readings);
  if (opts_.cluster) load_shared_alarms(p, ids, book);
  std::vector<std::size_t> stored;
  stored.reserve(p.readings.size());
  for (std::size_t i = 0; i < p.readings.size(); ++i) {
    if (!ids[i]) continue;
    stored.push_back(i);
    // The device's type reaches the rules, so type-scoped rules apply (precedence device >
    // type > global).
    evaluate(rules_, p.readings[i], store_.device_type(p.readings[i].device_id), book, events);
  }
  std::vector<storage::Alert> changed;
  for (auto& a : book.closed) {
    if (a.id == 0)
      a.id = store_.insert_alert(a);
    else
      store_.update_alert(a);
    changed.push_back(a);
  }
  for (const auto& key : book.dirty) {
    auto& a = book.active.at(key);
    if (a.id == 0)
      a.id = store_.insert_alert(a);
    else
      store_.update_alert(a);
    changed.push_back(a);
  }
  if (!p.acks.empty() && ack_sink_) ack_sink_->apply(store_, p.acks);
  if (!p.rejects.empty()) store_.insert_rejects(p.rejects);
  if (checkpoint) store_.save_checkpoint(opts_.instance_id, {checkpoint_id_, checkpoint->seq});
  if (opts_.cluster && (!stored.empty() || !changed.empty())) notify_cluster(ids, changed);
  store_.commit();
  // Healthy again before anything shows this commit (committed_seq_ below), so whoever sees
  // the commit also sees database_ok().
  if (!database_ok_) spdlog::info("database writes are succeeding again");
  database_ok_ = true;

  // Committed: publish.
  book.clear_pending();
  book_ = std::move(book);
  if (checkpoint) committed_seq_ = checkpoint->seq;
  // Outcomes only for inputs that want them (not the journal: nothing per message there).
  for (auto& df : frames) {
    if (df.msg.input == durable_) continue;
    ItemOutcome& o = df.msg.outcome;
    if (const auto& r = df.rejection ? df.rejection : df.refused) {
      o = ItemOutcome{ItemStatus::rejected, r->reason, r->detail};
    } else {
      o.status = ItemStatus::duplicate;
      if (df.reading_count > 0) o.device_id = p.readings[df.first_reading].device_id;
      for (std::uint32_t k = 0; k < df.reading_count; ++k) {
        if (!ids[df.first_reading + k]) continue;
        o.status = ItemStatus::stored;
        o.ids.push_back(*ids[df.first_reading + k]);
      }
    }
  }
  for (auto i : stored) latest_.apply(p.readings[i]);
  counters_.messages_stored += stored.size();
  counters_.messages_deduplicated += p.readings.size() - stored.size();
  counters_.nonfinite_dropped += p.notes.nonfinite_dropped;
  counters_.clock_skew += p.notes.clock_skew;
  counters_.bad_timestamp += p.notes.bad_timestamp;
  counters_.mqtt_retained_ignored += p.skipped_retained;
  for (const auto& r : p.rejects) counters_.add_reject(r.reason);
  for (const auto& e : events) {
    if (e.event == AlarmEvent::raised) counters_.alerts_raised++;
    if (e.event == AlarmEvent::cleared) counters_.alerts_cleared++;
  }
  counters_.commits++;
  counters_.record_commit(std::chrono::steady_clock::now() - begun, p.readings.size() + p.rejects.size());
  counters_.last_commit_at_ms = time::now_ms();
  if (!p.rejects.empty() && spdlog::should_log(spdlog::level::info)) {
    // The first reject's device, from its topic (an HTTP reject's key device is not kept).
    const auto& first = p.rejects.front();
    const auto device = first.topic.empty() ? std::nullopt : pipeline::match_topic(opts_.topics, first.topic);
    log::DeviceScope scope(device ? std::string_view(*device) : std::string_view());
    spdlog::info("rejected {} message(s); first: {} ({})", p.rejects.size(), p.rejects.front().reason,
                 p.rejects.front().detail);
  }
  // Inputs hear last, so that whoever they answer sees the latest values and counters.
  notify_committed(frames);
  if (!p.acks.empty()) {
    if (ack_sink_)
      ack_sink_->committed(p.acks);
    else
      spdlog::debug("{} command ack(s) committed; no command store to apply them to", p.acks.size());
  }

  if (listener_ && (!stored.empty() || !changed.empty())) {
    CommitEvent ev;
    ev.readings.reserve(stored.size());
    ev.reading_ids.reserve(stored.size());
    for (auto i : stored) {
      ev.readings.push_back(std::move(p.readings[i]));
      ev.reading_ids.push_back(*ids[i]);
    }
    ev.alerts = std::move(changed);
    listener_(std::move(ev));
  }
}

// Several instances (docs/architecture.md §21): the alarms of the batch's devices as all
// instances committed them, read under the devices' row locks (held until this commit), so
// that an alarm another instance raised is updated or cleared here, not raised again.
void Writer::load_shared_alarms(const Prepared& p, const std::vector<std::optional<std::int64_t>>& ids,
                                AlarmBook& book) {
  std::vector<std::string> devices;
  for (std::size_t i = 0; i < p.readings.size(); ++i)
    if (ids[i]) devices.push_back(p.readings[i].device_id);
  std::sort(devices.begin(), devices.end());
  devices.erase(std::unique(devices.begin(), devices.end()), devices.end());
  if (devices.empty()) return;
  auto alerts = store_.lock_alarm_state(devices);
  if (!alerts) return;
  for (const auto& d : devices) {
    auto it = book.active.lower_bound(AlarmKey{d, std::string()});
    while (it != book.active.end() && it->first.first == d) it = book.active.erase(it);
  }
  for (auto& a : *alerts) {
    AlarmKey key{a.device_id, a.metric};
    book.active.insert_or_assign(std::move(key), std::move(a));
  }
}

// Several instances (docs/architecture.md §21): the ids this transaction stored, sent to the
// other instances' relays when it commits, in chunks under PostgreSQL's 8000-byte payload
// limit: {"i": instance id, "m": [message ids], "a": [alert ids]}.
void Writer::notify_cluster(const std::vector<std::optional<std::int64_t>>& ids,
                            const std::vector<storage::Alert>& alerts) {
  constexpr std::size_t kPerNotification = 400;  // ids of up to 19 digits: < 8000 bytes
  std::vector<std::int64_t> all;
  for (const auto& id : ids)
    if (id) all.push_back(*id);
  std::size_t m = 0, a = 0;
  while (m < all.size() || a < alerts.size()) {
    nlohmann::json j{{"i", opts_.instance_id}, {"m", nlohmann::json::array()}, {"a", nlohmann::json::array()}};
    std::size_t n = 0;
    for (; m < all.size() && n < kPerNotification; ++m, ++n) j["m"].push_back(all[m]);
    for (; a < alerts.size() && n < kPerNotification; ++a, ++n) j["a"].push_back(alerts[a].id);
    store_.notify(std::string(kClusterCommitChannel), j.dump());
  }
}

void Writer::backoff(int attempt) {
  auto delay = opts_.retry_min * (1LL << std::min(attempt, 6));
  delay = std::min<std::chrono::milliseconds>(delay, opts_.retry_max);
  // Sleep in slices so stop() is honoured promptly.
  auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (stopping_ && time::now_ms() > drain_deadline_ms_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace iotd::ingest
