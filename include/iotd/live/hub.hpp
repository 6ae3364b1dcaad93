// The live hub (docs/architecture.md §15): fans committed readings and alert changes out to
// WebSocket stream clients. The writer's commit listener hands each committed batch over
// by move (publish); the hub's own thread renders every frame once per metric filter into
// a shared_ptr<const std::string> shared by every client that wants it, and passes each
// client the frames of a commit (or of several that queued up) in commit order. It never
// blocks the writer: publish only moves the batch onto a queue under a short lock.
//
// Subscribers are held weakly; deliver() must not block (a stream session appends to its
// bounded queue and posts to its io thread). Threading: every member is thread-safe.
// Lifetime: stop() before the HTTP server that owns the sessions is destroyed (a delivery
// holds a session for its duration); unsubscribe() stays valid after stop().
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "iotd/core/counters.hpp"
#include "iotd/core/domain.hpp"
#include "iotd/ingest/writer.hpp"
#include "iotd/live/filter.hpp"

namespace iotd::live {

using Frame = std::shared_ptr<const std::string>;

// What a subscriber is handed: `frames` complete WebSocket text frames (header and
// payload, RFC 6455 §5.2), back to back in `wire`. Every subscriber that wants the same
// frames of a delivery shares one `wire`: it is built once, and a client's socket write
// is one buffer per delivery (docs/architecture.md §15).
struct Delivery {
  Frame wire;
  std::size_t frames = 0;
};

class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual const StreamFilter& filter() const = 0;
  // On the hub thread: this subscriber's frames of one or more consecutive commits (or of
  // one acknowledgement), in order. Must not block.
  virtual void deliver(const Delivery& d) = 0;
};

// Appends `payload` as one unmasked server text frame (FIN set) to `out`.
void append_text_frame(std::string& out, std::string_view payload);

struct HubOptions {
  // Commits waiting for the hub thread; beyond it a batch is dropped for the stream (and
  // logged) rather than letting memory grow. The database has it either way.
  std::size_t max_pending = 4096;
  // Pacing (docs/architecture.md §15): a delivery costs one socket write per client that
  // wants frames, so with many subscribers deliveries start at most every
  // min(max_pace, subscribers × pace_per_subscriber); commits that arrive in between go
  // out together (not while the hub is behind: its last delivery left commits queued).
  // 100 subscribers: at most one delivery per 1 ms (commits of watched
  // devices come about every 2 ms, so it rarely waits); 1,000: one per 10 ms, about
  // 100,000 socket writes a second in all instead of one per commit per client.
  std::chrono::microseconds pace_per_subscriber{10};
  std::chrono::microseconds max_pace{10'000};
};

class LiveHub {
 public:
  explicit LiveHub(HubOptions opts = {});
  ~LiveHub();  // stop()
  LiveHub(const LiveHub&) = delete;
  LiveHub& operator=(const LiveHub&) = delete;

  // The writer's commit listener: takes the batch by move.
  void publish(ingest::CommitEvent&& ev);
  // An alert acknowledged over HTTP (after its transaction).
  void publish_acknowledged(const Alert& alert);

  void subscribe(const std::shared_ptr<Subscriber>& s);
  void unsubscribe(const Subscriber* s);
  std::size_t subscribers() const;

  // Lock-free, for the writer's group commit (docs/architecture.md §7, §15): whether a
  // subscriber may want frames about `device`. Counts are kept per hash bucket of the
  // filters' device ids (and one for filters without any), so a false positive is
  // possible, a false negative is not; it reads two atomics and takes no lock.
  bool watching(std::string_view device) const noexcept;

  // Ends the hub thread; what is queued is dropped. Idempotent.
  void stop();
  std::uint64_t batches_dropped() const { return dropped_.load(); }

 private:
  struct Acknowledged {
    Alert alert;
  };
  using Item = std::variant<std::shared_ptr<const ingest::CommitEvent>, Acknowledged>;

  void run(std::stop_token st);
  void dispatch(std::span<const std::shared_ptr<const ingest::CommitEvent>> commits);
  void dispatch(const Acknowledged& ack);
  void refresh_snapshot();
  void count_watch(const std::vector<std::uint16_t>& buckets, int delta);
  static std::uint16_t watch_bucket(std::string_view device) noexcept;

  HubOptions opts_;
  mutable std::mutex mu_;  // guards queue_, subs_ and version_
  std::condition_variable_any cv_;
  std::deque<Item> queue_;
  std::unordered_map<const Subscriber*, std::weak_ptr<Subscriber>> subs_;
  std::uint64_t version_ = 0;
  bool stopped_ = false;
  std::atomic<std::uint64_t> dropped_{0};
  // watching(): subscribers per device-id hash bucket; the last one counts the filters
  // without a device list. watch_keys_ (under mu_) remembers each subscriber's buckets.
  static constexpr std::size_t kWatchBuckets = 256;
  std::array<std::atomic<std::uint32_t>, kWatchBuckets + 1> watch_{};
  std::unordered_map<const Subscriber*, std::vector<std::uint16_t>> watch_keys_;
  // Hub thread only: the subscribers as of snapshot_version_.
  std::vector<std::weak_ptr<Subscriber>> snapshot_;
  std::uint64_t snapshot_version_ = ~std::uint64_t{0};
  std::jthread thread_;
};

// Frame texts (exposed for tests): the reading shape of GET /api/v1/readings with "type"
// first, `metrics` limited by `filter` (nullptr: all); an alert as GET /api/v1/alerts
// shows it with "type":"alert" and "event" (raised, updated, cleared, acknowledged).
std::string reading_frame(const Reading& r, std::int64_t id, const StreamFilter* filter);
std::string alert_frame(const Alert& a, std::string_view event);
// raised (first frame of an active alert), updated or cleared, from the alert's state.
std::string_view alert_event(const Alert& a);

}  // namespace iotd::live
