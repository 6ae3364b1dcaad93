#include "iotd/core/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace iotd::metrics {

Metric::Metric(Registry& registry, Info info) : registry_(registry), info_(info) { registry.add(*this); }

Metric::~Metric() { registry_.remove(*this); }

void Registry::add(const Metric& m) {
  const auto name = m.info().name;
  if (name.empty()) throw std::logic_error("metric without a name");
  for (const auto* other : metrics_)
    if (other->info().name == name)
      throw std::logic_error("metric \"" + std::string(name) + "\" declared twice");
  metrics_.push_back(&m);
}

void Registry::remove(const Metric& m) noexcept {
  std::erase(metrics_, &m);
}

void Registry::visit(MetricVisitor& v) const {
  for (const auto* m : metrics_) m->accept(v);
}

// ---- Histogram ------------------------------------------------------------------------

Histogram::Histogram(Registry& r, Info info, std::initializer_list<double> bounds)
    : Metric(r, info), bounds_(bounds) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i - 1] < bounds_[i])))
      throw std::invalid_argument("histogram \"" + std::string(info.name) +
                                  "\": bounds must be finite and strictly ascending");
  }
  buckets_ = std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1);
}

void Histogram::observe(double v) noexcept {
  // Prometheus buckets are "less than or equal"; NaN lands in +Inf.
  std::size_t i = 0;
  while (i < bounds_.size() && !(v <= bounds_[i])) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  if (std::isfinite(v)) sum_.fetch_add(v, std::memory_order_relaxed);
}

HistogramSnapshot Histogram::snapshot() const {
  HistogramSnapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

void Histogram::accept(MetricVisitor& v) const { v.histogram(info(), snapshot()); }

// ---- LabelledCounter ------------------------------------------------------------------

namespace {
constexpr std::string_view kOther = "other";
}

LabelledCounter::LabelledCounter(Registry& r, Info info, std::string_view label_name,
                                 std::size_t max_values)
    : Metric(r, info),
      label_name_(label_name),
      max_values_(std::max<std::size_t>(max_values, 1)),
      cells_(std::make_unique<Cell[]>(max_values_)) {}

std::atomic<std::uint64_t>* LabelledCounter::find(std::string_view value, std::size_t published) const {
  for (std::size_t i = 0; i < published; ++i)
    if (cells_[i].value == value) return &cells_[i].n;
  return nullptr;
}

std::atomic<std::uint64_t>& LabelledCounter::cell(std::string_view value) {
  if (auto* c = find(value, size_.load(std::memory_order_acquire))) return *c;
  std::lock_guard lock(create_mu_);
  const std::size_t n = size_.load(std::memory_order_relaxed);
  if (auto* c = find(value, n)) return *c;
  // The last free slot is kept for "other", so the bound holds with it included.
  if (n + 1 >= max_values_ && value != kOther) {
    value = kOther;
    if (auto* c = find(value, n)) return *c;
  }
  cells_[n].value.assign(value);
  size_.store(n + 1, std::memory_order_release);
  return cells_[n].n;
}

std::map<std::string, std::uint64_t> LabelledCounter::values() const {
  std::map<std::string, std::uint64_t> out;
  const std::size_t n = size_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) out.emplace(cells_[i].value, cells_[i].n.load(std::memory_order_relaxed));
  return out;
}

std::uint64_t LabelledCounter::total() const {
  std::uint64_t sum = 0;
  const std::size_t n = size_.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) sum += cells_[i].n.load(std::memory_order_relaxed);
  return sum;
}

void LabelledCounter::accept(MetricVisitor& v) const {
  std::vector<LabelledSample> samples;
  for (auto& [value, n] : values())
    if (n > 0) samples.push_back({{value}, n});
  const std::string_view names[] = {label_name_};
  v.labelled_counter(info(), names, samples);
}

// ---- RouteStatusCounter ---------------------------------------------------------------

namespace {

// The route labels of a router's patterns: `rows` gets each distinct pattern once, then
// "unmatched"; `row_of[i]` is route i's row (routes sharing a pattern share a row).
void map_route_rows(std::span<const std::string> patterns, std::vector<std::string>& rows,
                    std::vector<std::size_t>& row_of) {
  row_of.reserve(patterns.size());
  for (const auto& p : patterns) {
    auto it = std::find(rows.begin(), rows.end(), p);
    row_of.push_back(static_cast<std::size_t>(it - rows.begin()));
    if (it == rows.end()) rows.push_back(p);
  }
  rows.emplace_back("unmatched");
}

}  // namespace

RouteStatusCounter::RouteStatusCounter(Registry& r, Info info) : Metric(r, info) {
  set_routes({});
}

void RouteStatusCounter::set_routes(std::span<const std::string> patterns) {
  auto t = std::make_unique<Table>();
  map_route_rows(patterns, t->rows, t->row_of);
  t->cells = std::make_unique<std::atomic<std::uint64_t>[]>(t->rows.size() * kClasses);
  std::lock_guard lock(mu_);
  tables_.push_back(std::move(t));
  current_.store(tables_.back().get(), std::memory_order_release);
}

void RouteStatusCounter::record(std::size_t route_index, int status) noexcept {
  const Table* t = current_.load(std::memory_order_acquire);
  const std::size_t row = route_index < t->row_of.size() ? t->row_of[route_index] : t->rows.size() - 1;
  const std::size_t cls = static_cast<std::size_t>(std::clamp(status / 100, 1, 5)) - 1;
  t->cells[row * kClasses + cls].fetch_add(1, std::memory_order_relaxed);
}

void RouteStatusCounter::accept(MetricVisitor& v) const {
  static constexpr std::string_view kClassNames[kClasses] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  const Table* t = current_.load(std::memory_order_acquire);
  std::vector<LabelledSample> samples;
  for (std::size_t row = 0; row < t->rows.size(); ++row) {
    for (std::size_t c = 0; c < kClasses; ++c) {
      auto n = t->cells[row * kClasses + c].load(std::memory_order_relaxed);
      if (n > 0) samples.push_back({{t->rows[row], std::string(kClassNames[c])}, n});
    }
  }
  std::sort(samples.begin(), samples.end(),
            [](const LabelledSample& a, const LabelledSample& b) { return a.values < b.values; });
  const std::string_view names[] = {"route", "status"};
  v.labelled_counter(info(), names, samples);
}

// ---- RouteHistogram -------------------------------------------------------------------

RouteHistogram::RouteHistogram(Registry& r, Info info, std::initializer_list<double> bounds)
    : Metric(r, info), bounds_(bounds) {
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    if (!std::isfinite(bounds_[i]) || (i > 0 && !(bounds_[i - 1] < bounds_[i])))
      throw std::invalid_argument("histogram \"" + std::string(info.name) +
                                  "\": bounds must be finite and strictly ascending");
  }
  set_routes({});
}

void RouteHistogram::set_routes(std::span<const std::string> patterns) {
  auto t = std::make_unique<Table>();
  map_route_rows(patterns, t->rows, t->row_of);
  t->buckets = std::make_unique<std::atomic<std::uint64_t>[]>(t->rows.size() * (bounds_.size() + 1));
  t->sums = std::make_unique<std::atomic<double>[]>(t->rows.size());
  std::lock_guard lock(mu_);
  tables_.push_back(std::move(t));
  current_.store(tables_.back().get(), std::memory_order_release);
}

void RouteHistogram::observe(std::size_t route_index, double v) noexcept {
  const Table* t = current_.load(std::memory_order_acquire);
  const std::size_t row = route_index < t->row_of.size() ? t->row_of[route_index] : t->rows.size() - 1;
  std::size_t i = 0;  // "less than or equal" buckets; NaN lands in +Inf
  while (i < bounds_.size() && !(v <= bounds_[i])) ++i;
  t->buckets[row * (bounds_.size() + 1) + i].fetch_add(1, std::memory_order_relaxed);
  if (std::isfinite(v)) t->sums[row].fetch_add(v, std::memory_order_relaxed);
}

HistogramSnapshot RouteHistogram::row_snapshot(const Table& t, std::size_t row) const {
  HistogramSnapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += t.buckets[row * (bounds_.size() + 1) + i].load(std::memory_order_relaxed);
    s.cumulative[i] = running;
  }
  s.count = running;
  s.sum = t.sums[row].load(std::memory_order_relaxed);
  return s;
}

HistogramSnapshot RouteHistogram::snapshot(std::string_view pattern) const {
  const Table* t = current_.load(std::memory_order_acquire);
  for (std::size_t row = 0; row < t->rows.size(); ++row)
    if (t->rows[row] == pattern) return row_snapshot(*t, row);
  HistogramSnapshot s;
  s.bounds = bounds_;
  s.cumulative.assign(bounds_.size() + 1, 0);
  return s;
}

void RouteHistogram::accept(MetricVisitor& v) const {
  const Table* t = current_.load(std::memory_order_acquire);
  std::vector<LabelledHistogram> series;
  for (std::size_t row = 0; row < t->rows.size(); ++row) {
    auto s = row_snapshot(*t, row);
    if (s.count > 0) series.push_back({{t->rows[row]}, std::move(s)});
  }
  std::sort(series.begin(), series.end(),
            [](const LabelledHistogram& a, const LabelledHistogram& b) { return a.values < b.values; });
  const std::string_view names[] = {"route"};
  v.labelled_histogram(info(), names, series);
}

}  // namespace iotd::metrics
