// Metric primitives and the registry they declare themselves in: each metric is declared
// once (name, help, unit, labels) and exporters (health JSON, Prometheus text) are
// MetricVisitors over the registry, which must outlive its metrics (they are members of a
// class deriving from it, as Counters is). Thread-safe: updates are relaxed atomics on a
// cell the caller holds; a visit reads them while writers go on.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace iotd::metrics {

// What a value measures; exporters derive names and formats from it.
enum class Unit {
  none,     // a count of things
  seconds,  // a duration
  unix_ms,  // a wall-clock time, milliseconds since the epoch (0: never)
  bytes,    // a size
};

// A metric's declaration. The strings must outlive the metric (literals in practice).
struct Info {
  std::string_view name;  // snake_case, unique in its registry; the health JSON key
  std::string_view help;  // one line
  Unit unit = Unit::none;
};

struct HistogramSnapshot {
  std::span<const double> bounds;           // upper bounds, ascending; +Inf is implied
  std::vector<std::uint64_t> cumulative;    // bounds.size() + 1 entries; the last is +Inf
  std::uint64_t count = 0;                  // == cumulative.back()
  double sum = 0;
};

struct LabelledSample {
  std::vector<std::string> values;  // one per label name, in order
  std::uint64_t value = 0;
};

// One labelled series of a histogram family (RouteHistogram).
struct LabelledHistogram {
  std::vector<std::string> values;  // one per label name, in order
  HistogramSnapshot histogram;
};

class MetricVisitor {
 public:
  virtual ~MetricVisitor() = default;
  virtual void counter(const Info& info, std::uint64_t value) = 0;
  virtual void gauge(const Info& info, std::int64_t value) = 0;
  virtual void histogram(const Info& info, const HistogramSnapshot& h) = 0;
  // Only samples with a non-zero value, ordered by their label values.
  virtual void labelled_counter(const Info& info, std::span<const std::string_view> label_names,
                                std::span<const LabelledSample> samples) = 0;
  // Only series with at least one observation, ordered by their label values.
  virtual void labelled_histogram(const Info& info, std::span<const std::string_view> label_names,
                                  std::span<const LabelledHistogram> series) = 0;
};

class Registry;

class Metric {
 public:
  Metric(const Metric&) = delete;
  Metric& operator=(const Metric&) = delete;
  const Info& info() const { return info_; }
  virtual void accept(MetricVisitor& v) const = 0;

 protected:
  Metric(Registry& registry, Info info);
  ~Metric();  // leaves the registry (also when a derived constructor throws)

 private:
  Registry& registry_;
  Info info_;
};

// The metrics declared in it, in declaration order. Declaration happens while the owner is
// constructed (single-threaded); afterwards the registry is immutable and visit() may run
// on any thread.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Throws std::logic_error when the name is empty or already declared.
  void add(const Metric& m);
  void remove(const Metric& m) noexcept;
  void visit(MetricVisitor& v) const;
  const std::vector<const Metric*>& metrics() const { return metrics_; }

 private:
  std::vector<const Metric*> metrics_;
};

// Monotonic count. The std::atomic-like members let call sites increment it as they did
// the atomic it replaces; plain assignment is for tests and resets.
class Counter final : public Metric {
 public:
  Counter(Registry& r, Info info) : Metric(r, info) {}

  std::uint64_t fetch_add(std::uint64_t n, std::memory_order o = std::memory_order_relaxed) noexcept {
    return v_.fetch_add(n, o);
  }
  std::uint64_t load(std::memory_order o = std::memory_order_relaxed) const noexcept { return v_.load(o); }
  void store(std::uint64_t n, std::memory_order o = std::memory_order_relaxed) noexcept { v_.store(n, o); }
  operator std::uint64_t() const noexcept { return load(); }
  Counter& operator=(std::uint64_t n) noexcept {
    store(n);
    return *this;
  }
  std::uint64_t operator++() noexcept { return fetch_add(1) + 1; }
  std::uint64_t operator++(int) noexcept { return fetch_add(1); }
  std::uint64_t operator+=(std::uint64_t n) noexcept { return fetch_add(n) + n; }

  void accept(MetricVisitor& v) const override { v.counter(info(), load()); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// A value that goes up and down, or a point in time (Unit::unix_ms).
class Gauge final : public Metric {
 public:
  Gauge(Registry& r, Info info) : Metric(r, info) {}

  std::int64_t fetch_add(std::int64_t n, std::memory_order o = std::memory_order_relaxed) noexcept {
    return v_.fetch_add(n, o);
  }
  std::int64_t load(std::memory_order o = std::memory_order_relaxed) const noexcept { return v_.load(o); }
  void store(std::int64_t n, std::memory_order o = std::memory_order_relaxed) noexcept { v_.store(n, o); }
  operator std::int64_t() const noexcept { return load(); }
  Gauge& operator=(std::int64_t n) noexcept {
    store(n);
    return *this;
  }

  void accept(MetricVisitor& v) const override { v.gauge(info(), load()); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Distribution over fixed buckets. observe() scans the few bounds and touches two atomics.
class Histogram final : public Metric {
 public:
  // `bounds`: upper bounds, strictly ascending and finite (std::invalid_argument otherwise).
  Histogram(Registry& r, Info info, std::initializer_list<double> bounds);

  void observe(double v) noexcept;
  HistogramSnapshot snapshot() const;
  void accept(MetricVisitor& v) const override;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1, not cumulative
  std::atomic<double> sum_{0};
};

// A counter per value of one label, for a small open set of values (reject reasons). cell()
// finds the value's cell without a lock (cells, once published, never move or change their
// value) and creates a new one under a mutex only writers creating values take; keep the
// reference for a hot path. Readers (values(), total(), accept()) take no lock, so an
// exporter never waits for a writer. Past `max_values` distinct values, new ones share the
// cell "other", so memory stays bounded.
class LabelledCounter final : public Metric {
 public:
  LabelledCounter(Registry& r, Info info, std::string_view label_name, std::size_t max_values);

  std::atomic<std::uint64_t>& cell(std::string_view value);
  void add(std::string_view value, std::uint64_t n = 1) { cell(value).fetch_add(n, std::memory_order_relaxed); }
  std::map<std::string, std::uint64_t> values() const;  // every value seen, zero or not
  std::uint64_t total() const;
  void accept(MetricVisitor& v) const override;

 private:
  struct Cell {
    std::string value;  // written once, before the cell is published
    std::atomic<std::uint64_t> n{0};
  };
  std::atomic<std::uint64_t>* find(std::string_view value, std::size_t published) const;

  std::string_view label_name_;
  std::size_t max_values_;
  std::unique_ptr<Cell[]> cells_;           // max_values_ slots; [0, size_) published
  std::atomic<std::size_t> size_{0};
  std::mutex create_mu_;                    // serialises creating cells
};

// Responses by route and status class (1xx..5xx): a fixed table indexed by the route's
// position in the router, so record() is an array index and one atomic add. Route indexes
// without a name (and kUnmatched) count as route "unmatched".
class RouteStatusCounter final : public Metric {
 public:
  static constexpr std::size_t kUnmatched = static_cast<std::size_t>(-1);

  RouteStatusCounter(Registry& r, Info info);

  // Names the routes: index i is patterns[i]; equal patterns (one path, several methods)
  // share a row. Call at start-up, before requests are counted; calling again starts a new
  // table from zero (the old one stays allocated, so a concurrent record() is safe).
  void set_routes(std::span<const std::string> patterns);
  void record(std::size_t route_index, int status) noexcept;
  void accept(MetricVisitor& v) const override;

 private:
  static constexpr std::size_t kClasses = 5;
  struct Table {
    std::vector<std::string> rows;       // distinct patterns, then "unmatched"
    std::vector<std::size_t> row_of;     // route index -> row
    std::unique_ptr<std::atomic<std::uint64_t>[]> cells;  // rows.size() * kClasses
  };
  std::mutex mu_;
  std::vector<std::unique_ptr<Table>> tables_;  // guarded by mu_; every table ever published
  std::atomic<const Table*> current_{nullptr};
};

// A histogram per route pattern (HTTP latency by route): like RouteStatusCounter, a fixed
// table indexed by the route's position in the router, so observe() is an array index, a
// short scan of the bounds and two relaxed atomic adds; no lock, no map. Route indexes
// without a name (and kUnmatched) observe into route "unmatched".
class RouteHistogram final : public Metric {
 public:
  static constexpr std::size_t kUnmatched = RouteStatusCounter::kUnmatched;

  // `bounds`: upper bounds, strictly ascending and finite (std::invalid_argument otherwise).
  RouteHistogram(Registry& r, Info info, std::initializer_list<double> bounds);

  // As RouteStatusCounter::set_routes.
  void set_routes(std::span<const std::string> patterns);
  void observe(std::size_t route_index, double v) noexcept;
  // The route pattern's histogram (zero when unknown); for tests and the health JSON.
  HistogramSnapshot snapshot(std::string_view pattern) const;
  void accept(MetricVisitor& v) const override;

 private:
  struct Table {
    std::vector<std::string> rows;    // distinct patterns, then "unmatched"
    std::vector<std::size_t> row_of;  // route index -> row
    std::unique_ptr<std::atomic<std::uint64_t>[]> buckets;  // rows * (bounds + 1), not cumulative
    std::unique_ptr<std::atomic<double>[]> sums;             // one per row
  };
  HistogramSnapshot row_snapshot(const Table& t, std::size_t row) const;

  std::vector<double> bounds_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Table>> tables_;  // guarded by mu_; every table ever published
  std::atomic<const Table*> current_{nullptr};
};

}  // namespace iotd::metrics
