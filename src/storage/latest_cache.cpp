#include "iotd/storage/latest_cache.hpp"

#include <algorithm>
#include <mutex>

namespace iotd::storage {

void LatestCache::apply(const Reading& r) {
  std::unique_lock lock(mu_);
  auto& e = by_device_[r.device_id];
  auto& d = e.latest;
  if (d.device_id.empty()) d.device_id = r.device_id;
  d.last_seen_at_ms = std::max(d.last_seen_at_ms, r.received_at_ms);
  for (const auto& [name, value] : r.metrics) {
    auto [it, inserted] = d.metrics.try_emplace(name, LatestValue{value, r.ts_ms});
    if (!inserted && r.ts_ms >= it->second.ts_ms) it->second = LatestValue{value, r.ts_ms};
  }
  ++e.version;
  e.memo.reset();
}

void LatestCache::load(std::vector<DeviceLatest> rows) {
  std::unique_lock lock(mu_);
  by_device_.clear();
  for (auto& d : rows) {
    auto id = d.device_id;
    by_device_.insert_or_assign(std::move(id), Entry{std::move(d), 0, nullptr});
  }
}

void LatestCache::merge(const std::vector<DeviceLatest>& rows) {
  std::unique_lock lock(mu_);
  for (const auto& row : rows) {
    auto& e = by_device_[row.device_id];
    auto& d = e.latest;
    bool changed = d.device_id.empty();
    if (changed) d.device_id = row.device_id;
    if (row.last_seen_at_ms > d.last_seen_at_ms) {
      d.last_seen_at_ms = row.last_seen_at_ms;
      changed = true;
    }
    for (const auto& [name, v] : row.metrics) {
      auto [it, inserted] = d.metrics.try_emplace(name, v);
      if (inserted) {
        changed = true;
      } else if (v.ts_ms > it->second.ts_ms) {
        it->second = v;
        changed = true;
      }
    }
    if (changed) {
      ++e.version;
      e.memo.reset();
    }
  }
}

void LatestCache::erase(const std::string& device_id) {
  std::unique_lock lock(mu_);
  by_device_.erase(device_id);
}

std::optional<DeviceLatest> LatestCache::device(const std::string& device_id) const {
  std::shared_lock lock(mu_);
  auto it = by_device_.find(device_id);
  if (it == by_device_.end()) return std::nullopt;
  return it->second.latest;
}

std::vector<DeviceLatest> LatestCache::all() const {
  std::vector<DeviceLatest> out;
  {
    std::shared_lock lock(mu_);
    out.reserve(by_device_.size());
    for (const auto& [_, e] : by_device_) out.push_back(e.latest);
  }
  std::sort(out.begin(), out.end(),
            [](const DeviceLatest& a, const DeviceLatest& b) { return a.device_id < b.device_id; });
  return out;
}

std::size_t LatestCache::device_count() const {
  std::shared_lock lock(mu_);
  return by_device_.size();
}

std::shared_ptr<const std::string> LatestCache::rendered(const std::string& device_id,
                                                         const Render& render) const {
  DeviceLatest copy;
  std::uint64_t version = 0;
  {
    std::shared_lock lock(mu_);
    auto it = by_device_.find(device_id);
    if (it == by_device_.end()) return nullptr;
    // memo is written under the unique lock only, so reading it here is safe.
    if (it->second.memo) return it->second.memo;
    copy = it->second.latest;
    version = it->second.version;
  }
  auto out = std::make_shared<const std::string>(render(copy));
  std::unique_lock lock(mu_);
  auto it = by_device_.find(device_id);
  // Keep it only if nothing changed meanwhile; a newer rendering is a later reader's job.
  if (it != by_device_.end() && it->second.version == version && !it->second.memo)
    it->second.memo = out;
  return out;
}

}  // namespace iotd::storage
