#include "iotd/ingest/writer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <optional>
#include <unordered_set>

#include "iotd/core/time.hpp"

namespace iotd::ingest {

struct Writer::DecodedFrame {
  journal::Frame frame;
  bool retained = false;                    // skipped: retained and ignore_retained
  std::optional<pipeline::Rejection> rejection;
  pipeline::Decoded decoded;                // when neither of the above
  bool consumed = false;                    // prepare() moved `decoded` out
};

// One decoded batch waits here while the previous one commits.
struct Writer::Handoff {
  static constexpr std::size_t kDepth = 1;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::vector<DecodedFrame>> batches;  // guarded by mu
  bool done = false;     // the decode thread has ended (stopping, journal drained)
  bool abandon = false;  // the writer thread has ended: stop decoding
};

struct Writer::Prepared {
  std::vector<Reading> readings;
  std::vector<storage::RejectRecord> rejects;
  pipeline::DecodeNotes notes;
  std::uint64_t skipped_retained = 0;
};

Writer::Writer(WriterOptions opts, journal::Journal& journal, storage::WriteStore& store,
               storage::LatestCache& latest, Counters& counters)
    : opts_(std::move(opts)),
      journal_(journal),
      store_(store),
      latest_(latest),
      counters_(counters),
      handoff_(std::make_unique<Handoff>()) {}

Writer::~Writer() {
  if (thread_.joinable()) stop(std::chrono::milliseconds(0));
}

void Writer::set_commit_listener(std::function<void(const CommitEvent&)> listener) {
  listener_ = std::move(listener);
}

void Writer::reload_rules() { reload_rules_ = true; }

std::string Writer::last_error() const {
  std::lock_guard lock(error_mu_);
  return last_error_;
}

void Writer::set_error(const std::string& what) {
  std::lock_guard lock(error_mu_);
  last_error_ = what;
}

void Writer::start() {
  journal_uuid_ = journal_.uuid();
  auto cp = store_.load_checkpoint(opts_.instance_id);
  std::uint64_t after = 0;
  if (cp && cp->journal_uuid == journal_uuid_) {
    after = cp->seq;
    if (after > journal_.last_seq()) {
      spdlog::warn("the database has committed journal seq {} but the journal ends at {} (its unsynced "
                   "tail was lost, e.g. power loss with IOTD_JOURNAL_FSYNC=interval); numbering resumes "
                   "after {}", after, journal_.last_seq(), after);
      journal_.skip_past(after);
    }
  } else if (cp) {
    spdlog::warn("journal {} is not the one checkpointed ({}): replaying all {} frames on disk; "
                 "content dedup keeps the database free of duplicates",
                 journal_uuid_, cp->journal_uuid, journal_.last_seq());
  }
  journal_.seek_after(after);
  committed_seq_ = after;
  rules_ = RuleSet(store_.rules());
  book_.load(store_.active_alerts());
  latest_.load(store_.load_latest());
  if (journal_.last_seq() > after)
    spdlog::info("replaying journal frames {}..{} not yet committed", after + 1, journal_.last_seq());
  decode_thread_ = std::jthread([this] { decode_loop(); });
  thread_ = std::jthread([this] { run(); });
}

void Writer::stop(std::chrono::milliseconds drain_timeout) {
  drain_deadline_ms_ = time::now_ms() + drain_timeout.count();
  stopping_ = true;
  journal_.wake();
  {
    std::lock_guard lock(handoff_->mu);  // ends a commit delay in progress
    handoff_->cv.notify_all();
  }
  if (thread_.joinable()) thread_.join();  // its exit releases the decode thread
  if (decode_thread_.joinable()) decode_thread_.join();
}

void Writer::decode_loop() {
  Handoff& h = *handoff_;
  std::vector<journal::Frame> frames;
  frames.reserve(opts_.max_batch);
  while (true) {
    frames.clear();
    const bool stopping = stopping_;
    try {
      journal_.read(frames, opts_.max_batch, opts_.max_batch_bytes,
                    stopping ? std::chrono::milliseconds(0) : std::chrono::milliseconds(200));
    } catch (const std::exception& e) {
      spdlog::error("journal read failed: {}", e.what());
      if (stopping) break;  // the journal keeps the frames for the next start
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    if (frames.empty()) {
      if (stopping) break;
      std::lock_guard lock(h.mu);
      if (h.abandon) break;
      continue;
    }
    // Group commit: a small batch waits a little for company (one transaction per few
    // messages costs most of the CPU and disk writes at moderate rates). It sleeps, then
    // takes what came: waiting in read() would wake this thread for every appended frame.
    // A batch of a quarter of max_batch or more means a high rate, where frames pile up
    // on their own while the previous batch is decoded; sleeping then would only cap the
    // rate at max_batch per (delay + decode time).
    if (!stopping && opts_.commit_delay.count() > 0 && frames.size() < opts_.max_batch / 4) {
      {
        std::unique_lock lock(h.mu);
        h.cv.wait_for(lock, opts_.commit_delay, [&] { return stopping_.load() || h.abandon; });
      }
      std::size_t bytes = 0;
      for (const auto& f : frames) bytes += f.topic.size() + f.payload.size();
      try {
        if (bytes < opts_.max_batch_bytes)  // the batch's byte bound holds across both reads
          journal_.read(frames, opts_.max_batch - frames.size(), opts_.max_batch_bytes - bytes,
                        std::chrono::milliseconds(0));
      } catch (const std::exception& e) {
        spdlog::error("journal read failed: {}", e.what());  // commit what was read
      }
    }
    std::vector<DecodedFrame> batch;
    batch.reserve(frames.size());
    for (auto& f : frames) batch.push_back(decode_frame(std::move(f)));
    std::unique_lock lock(h.mu);
    h.cv.wait(lock, [&] { return h.batches.size() < Handoff::kDepth || h.abandon; });
    if (h.abandon) break;
    h.batches.push_back(std::move(batch));
    h.cv.notify_all();
  }
  std::lock_guard lock(h.mu);
  h.done = true;
  h.cv.notify_all();
}

void Writer::run() {
  Handoff& h = *handoff_;
  std::vector<DecodedFrame> batch;
  while (true) {
    if (reload_rules_.exchange(false)) {
      try {
        rules_ = RuleSet(store_.rules());
      } catch (const std::exception& e) {
        spdlog::error("reloading rules failed: {}", e.what());
        reload_rules_ = true;
      }
    }
    batch.clear();
    {
      std::unique_lock lock(h.mu);
      h.cv.wait_for(lock, std::chrono::milliseconds(200),
                    [&] { return !h.batches.empty() || h.done; });
      if (h.batches.empty()) {
        if (h.done) break;
        continue;
      }
      batch = std::move(h.batches.front());
      h.batches.pop_front();
      h.cv.notify_all();
    }
    try {
      process(batch);
    } catch (const std::exception& e) {
      // Only reached when stopping during an outage: the journal keeps the frames.
      spdlog::warn("writer stopped with {} frames uncommitted: {}",
                   journal_.last_seq() - committed_seq_.load(), e.what());
      break;
    }
    if (stopping_ && time::now_ms() > drain_deadline_ms_) {
      if (journal_.last_seq() > committed_seq_)
        spdlog::warn("shutdown drain timed out: {} frames stay in the journal for the next start",
                     journal_.last_seq() - committed_seq_.load());
      break;
    }
  }
  std::lock_guard lock(h.mu);
  h.abandon = true;
  h.cv.notify_all();
}

Writer::DecodedFrame Writer::decode_frame(journal::Frame frame) const {
  DecodedFrame d;
  d.frame = std::move(frame);
  const journal::Frame& f = d.frame;
  if ((f.flags & journal::kRetained) && opts_.ignore_retained) {
    d.retained = true;
    return d;
  }
  auto topic_id = pipeline::match_topic(opts_.topics, f.topic);
  if (!topic_id) {
    d.rejection = pipeline::Rejection{std::string(pipeline::reason::unmatched_topic),
                                      "topic matches no IOTD_MQTT_TOPICS template"};
    return d;
  }
  auto decoded = pipeline::decode({f.payload, *topic_id, f.received_at_ms}, opts_.decoder);
  if (!decoded)
    d.rejection = std::move(decoded.error());
  else
    d.decoded = std::move(*decoded);
  return d;
}

storage::RejectRecord Writer::make_reject(const journal::Frame& f, std::string_view reason,
                                          std::string detail) const {
  storage::RejectRecord r;
  r.source = "mqtt";
  r.topic = f.topic;
  r.payload_size = static_cast<std::int64_t>(f.payload.size());
  r.payload = f.payload.substr(0, opts_.rejects_max_bytes);
  r.reason = std::string(reason);
  r.detail = std::move(detail);
  r.received_at_ms = f.received_at_ms;
  return r;
}

Writer::Prepared Writer::prepare(std::span<DecodedFrame> frames) {
  Prepared p;
  p.readings.reserve(frames.size());
  std::unordered_set<std::string> new_devices;
  std::int64_t device_count = -1;  // fetched lazily
  for (auto& df : frames) {
    // A frame prepared before (a retried or bisected batch) is decoded again.
    if (df.consumed) df = decode_frame(std::move(df.frame));
    const journal::Frame& f = df.frame;
    if (df.retained) {
      ++p.skipped_retained;
      continue;
    }
    if (df.rejection) {
      p.rejects.push_back(make_reject(f, df.rejection->reason, df.rejection->detail));
      continue;
    }
    auto* decoded = &df.decoded;
    const auto& n = decoded->notes;
    p.notes.nonfinite_dropped += n.nonfinite_dropped;
    p.notes.clock_skew += n.clock_skew;
    p.notes.bad_timestamp += n.bad_timestamp;
    if (n.device_id_mismatch) {
      counters_.device_id_mismatch++;
      spdlog::debug("payload device id differs from topic {}", f.topic);
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
      p.rejects.push_back(make_reject(f, reason, std::move(why)));
      continue;
    }
    for (auto& r : decoded->readings) p.readings.push_back(std::move(r));
    df.consumed = true;
  }
  return p;
}

void Writer::process(std::span<DecodedFrame> frames) {
  // prepare() looks devices up in the database too, so it is retried like the commit.
  std::optional<Prepared> p;
  const std::uint64_t last_seq = frames.back().frame.seq;
  for (int attempt = 0;; ++attempt) {
    try {
      if (!p) p = prepare(frames);
      commit(*p, last_seq);
      if (!database_ok_) spdlog::info("database writes are succeeding again");
      database_ok_ = true;
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
      spdlog::error("batch of {} frames failed permanently ({}): isolating the bad frame",
                    frames.size(), e.what());
      if (frames.size() > 1) {
        auto half = frames.size() / 2;
        process(frames.first(half));
        process(frames.subspan(half));
        return;
      }
      commit_poisoned(frames.front().frame, e.what());
      return;
    }
  }
}

void Writer::commit_poisoned(const journal::Frame& frame, const std::string& what) {
  std::vector<storage::RejectRecord> rejects{make_reject(frame, "store_error", what)};
  for (int attempt = 0;; ++attempt) {
    try {
      store_.begin();
      store_.insert_rejects(rejects);
      store_.save_checkpoint(opts_.instance_id, {journal_uuid_, frame.seq});
      store_.commit();
      counters_.add_reject("store_error");
      committed_seq_ = frame.seq;
      journal_.checkpoint(frame.seq);
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

void Writer::commit(Prepared& p, std::uint64_t last_seq) {
  AlarmBook book = book_;  // transitions apply to a copy, swapped in after the commit
  book.clear_pending();
  std::vector<AlarmChange> events;

  const auto begun = std::chrono::steady_clock::now();
  store_.begin();
  auto ids = store_.insert_messages(p.readings);
  std::vector<std::size_t> stored;
  stored.reserve(p.readings.size());
  for (std::size_t i = 0; i < p.readings.size(); ++i) {
    if (!ids[i]) continue;
    stored.push_back(i);
    evaluate(rules_, p.readings[i], "", book, events);
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
  if (!p.rejects.empty()) store_.insert_rejects(p.rejects);
  store_.save_checkpoint(opts_.instance_id, {journal_uuid_, last_seq});
  store_.commit();

  // Committed: publish.
  book.clear_pending();
  book_ = std::move(book);
  committed_seq_ = last_seq;
  journal_.checkpoint(last_seq);
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
  if (!p.rejects.empty() && spdlog::should_log(spdlog::level::info))
    spdlog::info("rejected {} message(s); first: {} ({})", p.rejects.size(), p.rejects.front().reason,
                 p.rejects.front().detail);

  if (listener_ && (!stored.empty() || !changed.empty())) {
    CommitEvent ev;
    ev.readings.reserve(stored.size());
    for (auto i : stored) ev.readings.push_back(std::move(p.readings[i]));
    ev.alerts = std::move(changed);
    listener_(ev);
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
