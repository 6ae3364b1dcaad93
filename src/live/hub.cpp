// The live hub: committed batches in, one rendering per frame, shared frames out
// (docs/architecture.md §15).
#include "iotd/live/hub.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <map>
#include <string_view>

#include "../http/api_json.hpp"
#include "../http/json_writer.hpp"
#include "iotd/core/log.hpp"
#include "iotd/core/thread_name.hpp"

namespace iotd::live {

std::string reading_frame(const Reading& r, std::int64_t id, const StreamFilter* filter) {
  http::JsonWriter w(128 + r.device_id.size() + r.metrics.size() * 32);
  w.begin_object();
  w.key("type").str("reading");
  w.key("id").integer(id);
  w.key("device_id").str(r.device_id);
  w.key("timestamp").iso(r.ts_ms);
  w.key("received_at").iso(r.received_at_ms);
  w.key("metrics").begin_object();
  for (const auto& [name, value] : r.metrics)
    if (!filter || filter->wants_metric(name)) w.key(name).num(value);
  w.end_object();
  w.end_object();
  return w.take();
}

void append_text_frame(std::string& out, std::string_view payload) {
  const std::size_t len = payload.size();
  out.push_back(static_cast<char>(0x81));  // FIN, text
  if (len < 126) {
    out.push_back(static_cast<char>(len));
  } else if (len <= 0xFFFF) {
    out.push_back(static_cast<char>(126));
    out.push_back(static_cast<char>(len >> 8));
    out.push_back(static_cast<char>(len & 0xFF));
  } else {
    out.push_back(static_cast<char>(127));
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(std::uint64_t(len) >> (56 - 8 * i)));
  }
  out.append(payload);
}

std::string_view alert_event(const Alert& a) {
  if (a.state == "cleared") return "cleared";
  return a.count <= 1 ? "raised" : "updated";
}

std::string alert_frame(const Alert& a, std::string_view event) {
  http::JsonWriter body(512);
  http::api::write_alert(body, a, false);
  std::string alert = body.take();  // {"id":…}
  http::JsonWriter w(alert.size() + 48);
  w.begin_object();
  w.key("type").str("alert");
  w.key("event").str(event);
  std::string out = w.take();
  out += ',';
  out.append(alert, 1);  // the alert's members and its closing brace
  return out;
}

LiveHub::LiveHub(HubOptions opts) : opts_(opts) {
  thread_ = std::jthread([this](std::stop_token st) {
    set_thread_name("iotd-live");
    run(st);
  });
}

LiveHub::~LiveHub() { stop(); }

void LiveHub::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    queue_.clear();
  }
  thread_.request_stop();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  snapshot_.clear();
}

void LiveHub::publish(ingest::CommitEvent&& ev) {
  // The batch moves into the shared event: no reading is copied.
  auto shared = std::make_shared<const ingest::CommitEvent>(std::move(ev));
  {
    std::lock_guard lock(mu_);
    if (stopped_ || subs_.empty()) return;
    if (queue_.size() >= opts_.max_pending) {
      if (dropped_.fetch_add(1) % 1000 == 0)
        spdlog::warn("live: the hub is {} commits behind; dropping a batch from the stream",
                     queue_.size());
      return;
    }
    queue_.emplace_back(std::move(shared));
  }
  cv_.notify_one();
}

void LiveHub::publish_acknowledged(const Alert& alert) {
  {
    std::lock_guard lock(mu_);
    if (stopped_ || subs_.empty()) return;
    queue_.emplace_back(Acknowledged{alert});
  }
  cv_.notify_one();
}

void LiveHub::subscribe(const std::shared_ptr<Subscriber>& s) {
  std::vector<std::uint16_t> buckets;
  for (const auto& d : s->filter().devices) buckets.push_back(watch_bucket(d));
  if (buckets.empty()) buckets.push_back(kWatchBuckets);
  std::sort(buckets.begin(), buckets.end());
  buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
  std::lock_guard lock(mu_);
  if (!subs_.emplace(s.get(), s).second) return;
  ++version_;
  count_watch(buckets, 1);
  watch_keys_.emplace(s.get(), std::move(buckets));
}

// The subscriber may be mid-destruction: its buckets come from watch_keys_, not its filter.
void LiveHub::unsubscribe(const Subscriber* s) {
  std::lock_guard lock(mu_);
  if (subs_.erase(s)) ++version_;
  if (auto it = watch_keys_.find(s); it != watch_keys_.end()) {
    count_watch(it->second, -1);
    watch_keys_.erase(it);
  }
}

std::uint16_t LiveHub::watch_bucket(std::string_view device) noexcept {
  return static_cast<std::uint16_t>(std::hash<std::string_view>{}(device) % kWatchBuckets);
}

void LiveHub::count_watch(const std::vector<std::uint16_t>& buckets, int delta) {
  for (auto b : buckets) {
    if (delta > 0)
      watch_[b].fetch_add(1, std::memory_order_relaxed);
    else
      watch_[b].fetch_sub(1, std::memory_order_relaxed);
  }
}

bool LiveHub::watching(std::string_view device) const noexcept {
  return watch_[kWatchBuckets].load(std::memory_order_relaxed) > 0 ||
         watch_[watch_bucket(device)].load(std::memory_order_relaxed) > 0;
}

std::size_t LiveHub::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

// Commits that queued up while the hub was busy go out together: each client gets one
// delivery (one post to its io thread, one gather write) for all of them instead of one
// per commit, so a burst of small commits costs no more wake-ups than one large one.
void LiveHub::run(std::stop_token st) {
  log::ModuleScope module("live");
  constexpr std::size_t kMaxCoalesced = 64, kMaxCoalescedReadings = 256;
  std::vector<Item> items;
  std::vector<std::shared_ptr<const ingest::CommitEvent>> commits;
  auto last_delivery = std::chrono::steady_clock::time_point{};
  bool caught_up = true;  // the last delivery took everything queued
  while (true) {
    items.clear();
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait(lock, st, [this] { return !queue_.empty(); })) return;
      // Pacing (HubOptions): what arrives meanwhile joins this delivery. Not while the hub
      // is behind (the last delivery hit the bound below): it would only fall further.
      const auto pace = std::min(opts_.max_pace, opts_.pace_per_subscriber * static_cast<long>(subs_.size()));
      if (caught_up && std::chrono::steady_clock::now() < last_delivery + pace) {
        cv_.wait_until(lock, st, last_delivery + pace, [] { return false; });
        if (st.stop_requested()) return;
      }
      last_delivery = std::chrono::steady_clock::now();
      // Bounded so that one delivery stays near one batch (IOTD_WS_QUEUE_FRAMES, §15).
      std::size_t readings = 0;
      while (!queue_.empty() && items.size() < kMaxCoalesced && readings < kMaxCoalescedReadings) {
        if (auto* c = std::get_if<std::shared_ptr<const ingest::CommitEvent>>(&queue_.front()))
          readings += (*c)->readings.size();
        items.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      caught_up = queue_.empty();
    }
    refresh_snapshot();
    try {
      // Runs of consecutive commits in one dispatch; acknowledgements in their place.
      for (std::size_t i = 0; i < items.size();) {
        if (auto* ack = std::get_if<Acknowledged>(&items[i])) {
          dispatch(*ack);
          ++i;
          continue;
        }
        commits.clear();
        for (; i < items.size() && !std::holds_alternative<Acknowledged>(items[i]); ++i)
          commits.push_back(std::get<std::shared_ptr<const ingest::CommitEvent>>(std::move(items[i])));
        dispatch(commits);
      }
    } catch (const std::exception& e) {
      spdlog::error("live: dispatching a batch failed: {}", e.what());
    }
  }
}

// Rebuilt only when the set changed since the last batch; the lock is held for the copy
// only, never while frames go out.
void LiveHub::refresh_snapshot() {
  std::lock_guard lock(mu_);
  if (snapshot_version_ == version_) return;
  snapshot_.clear();
  snapshot_.reserve(subs_.size());
  for (const auto& [ptr, weak] : subs_) snapshot_.push_back(weak);
  snapshot_version_ = version_;
}

void LiveHub::dispatch(std::span<const std::shared_ptr<const ingest::CommitEvent>> commits) {
  // Per commit and reading: its frame per metrics key, rendered when the first client
  // wants it.
  std::vector<std::vector<std::vector<std::pair<std::string_view, Frame>>>> rendered(commits.size());
  std::vector<std::vector<Frame>> alert_frames(commits.size());
  for (std::size_t c = 0; c < commits.size(); ++c) {
    rendered[c].resize(commits[c]->readings.size());
    alert_frames[c].resize(commits[c]->alerts.size());
  }
  // The wire bytes of each distinct list of frames, built once and shared by every client
  // that wants exactly that list (usually every client with the same filter).
  std::map<std::vector<const std::string*>, Delivery> wires;
  std::vector<const std::string*> out;
  for (const auto& weak : snapshot_) {
    auto sub = weak.lock();
    if (!sub) continue;
    const StreamFilter& f = sub->filter();
    out.clear();
    for (std::size_t c = 0; c < commits.size(); ++c) {
      const ingest::CommitEvent& ev = *commits[c];
      for (std::size_t i = 0; i < ev.readings.size(); ++i) {
        const Reading& r = ev.readings[i];
        if (!f.wants_device(r.device_id)) continue;
        if (!f.metrics.empty() &&
            std::none_of(r.metrics.begin(), r.metrics.end(),
                         [&](const auto& m) { return f.wants_metric(m.first); }))
          continue;
        auto& cache = rendered[c][i];
        auto it = std::find_if(cache.begin(), cache.end(),
                               [&](const auto& e) { return e.first == f.metrics_key; });
        if (it == cache.end()) {
          auto text = reading_frame(r, i < ev.reading_ids.size() ? ev.reading_ids[i] : 0,
                                    f.metrics.empty() ? nullptr : &f);
          cache.emplace_back(f.metrics_key, std::make_shared<const std::string>(std::move(text)));
          it = cache.end() - 1;
        }
        out.push_back(it->second.get());
      }
      if (f.alerts) {
        for (std::size_t i = 0; i < ev.alerts.size(); ++i) {
          const Alert& a = ev.alerts[i];
          if (!f.wants_device(a.device_id) || !f.wants_metric(a.metric)) continue;
          if (!alert_frames[c][i])
            alert_frames[c][i] = std::make_shared<const std::string>(alert_frame(a, alert_event(a)));
          out.push_back(alert_frames[c][i].get());
        }
      }
    }
    if (out.empty()) continue;
    auto [w, added] = wires.try_emplace(out);
    if (added) {
      std::size_t bytes = 0;
      for (const auto* p : out) bytes += p->size() + 10;
      std::string wire;
      wire.reserve(bytes);
      for (const auto* p : out) append_text_frame(wire, *p);
      w->second = Delivery{std::make_shared<const std::string>(std::move(wire)), out.size()};
    }
    sub->deliver(w->second);
  }
}

void LiveHub::dispatch(const Acknowledged& ack) {
  Delivery d;
  for (const auto& weak : snapshot_) {
    auto sub = weak.lock();
    if (!sub) continue;
    const StreamFilter& f = sub->filter();
    if (!f.alerts || !f.wants_device(ack.alert.device_id) || !f.wants_metric(ack.alert.metric))
      continue;
    if (!d.wire) {
      std::string wire;
      append_text_frame(wire, alert_frame(ack.alert, "acknowledged"));
      d = Delivery{std::make_shared<const std::string>(std::move(wire)), 1};
    }
    sub->deliver(d);
  }
}

}  // namespace iotd::live
