#pragma once

// Counters, gauges and histograms with label sets, grouped into a Registry that renders the
// Prometheus text exposition format 0.0.4. No network code: server/http serves RenderText().
//
// Typical use (set-up once, e.g. when a model version loads; hot path only touches the metric):
//
//   metrics::Registry registry;
//   ASSIGN_OR_RETURN(auto* requests, registry.AddCounter("gridserve_inference_requests_total",
//                                        "Inference requests.", {"model", "version", "outcome"}));
//   metrics::Counter& ok = requests->Add({{"model", "m"}, {"version", "1"}, {"outcome",
//   "success"}}); ok.Increment();  // lock-free, from any thread

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace gridserve::metrics {

// Label name -> value. Ordered, so each label set has one canonical form and output is stable.
using Labels = std::map<std::string, std::string>;

enum class MetricType { kCounter, kGauge, kHistogram };

// A point-in-time copy of one metric (one label set of a family).
struct MetricSnapshot {
  Labels labels;
  // Counter and gauge value.
  double value = 0;
  // Histogram only: finite upper bounds (ascending), the cumulative count for each bound plus a
  // last entry for +Inf (which is the total count), and the sum of observed values.
  std::vector<double> bucket_bounds;
  std::vector<uint64_t> cumulative_counts;
  double sum = 0;
};

// A point-in-time copy of one metric family: what one HELP/TYPE block renders.
struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<MetricSnapshot> metrics;
};

// Source of families for a Registry: the built-in families below, ProcessCollector, or any
// component that computes its values at scrape time. Implementations are thread-safe.
class Collector {
 public:
  virtual ~Collector() = default;
  // The family names Collect() emits; fixed for the collector's lifetime.
  virtual std::vector<std::string> FamilyNames() const = 0;
  // Appends the current state of every family this collector owns. Called at scrape time,
  // possibly from several scrapes at once.
  virtual void Collect(std::vector<FamilySnapshot>* out) const = 0;
};

// A monotonically increasing value (requests, items, seconds of CPU). Lock-free; safe from any
// thread. Integer increments are exact; fractional ones (Add) are kept separately in a double.
class Counter {
 public:
  static constexpr MetricType kType = MetricType::kCounter;

  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment() { integral_.fetch_add(1, std::memory_order_relaxed); }
  void IncrementBy(uint64_t n) { integral_.fetch_add(n, std::memory_order_relaxed); }
  // Adds `v`. A counter never goes down: negative and NaN values are ignored.
  void Add(double v);
  double Value() const;
  void Snapshot(MetricSnapshot* out) const { out->value = Value(); }

 private:
  std::atomic<uint64_t> integral_{0};
  std::atomic<double> fractional_{0};
};

// A value that goes up and down (pending requests, model ready, load time). Lock-free; safe from
// any thread.
class Gauge {
 public:
  static constexpr MetricType kType = MetricType::kGauge;

  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Increment(double v = 1);
  void Decrement(double v = 1) { Increment(-v); }
  double Value() const { return value_.load(std::memory_order_relaxed); }
  void Snapshot(MetricSnapshot* out) const { out->value = Value(); }

 private:
  std::atomic<double> value_{0};
};

// Counts observations into fixed buckets (`le` upper bounds, inclusive, plus +Inf) and sums them.
// Observe() is lock-free (one bucket increment and one sum update); safe from any thread. A
// snapshot taken during concurrent observations is consistent in its counts (_count equals the
// +Inf bucket) but its _sum may lag or lead by the in-flight observations.
class Histogram {
 public:
  static constexpr MetricType kType = MetricType::kHistogram;

  // `bounds` must be finite and strictly increasing (Registry::AddHistogram checks).
  explicit Histogram(std::shared_ptr<const std::vector<double>> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // NaN counts only in +Inf (and makes _sum NaN), as in the official clients.
  void Observe(double v);
  uint64_t Count() const;
  double Sum() const { return sum_.load(std::memory_order_relaxed); }
  void Snapshot(MetricSnapshot* out) const;

 private:
  // Constant after construction.
  const std::shared_ptr<const std::vector<double>> bounds_;
  // Per-bucket (not cumulative) counts; bounds_->size() + 1 entries, the last for +Inf.
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;

  std::atomic<double> sum_{0};
};

// Latency buckets in seconds, 100 us to 60 s, for the request/queue/compute histograms.
std::vector<double> DefaultLatencyBuckets();
// `count` bounds start, start+width, ... (e.g. batch sizes 1..8: LinearBuckets(1, 1, 8)).
std::vector<double> LinearBuckets(double start, double width, int count);
// `count` bounds start, start*factor, ... (e.g. batch sizes 1..128: ExponentialBuckets(1, 2, 8)).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

namespace internal {
[[noreturn]] void DieLabelMismatch(const std::string& family,
                                   const std::vector<std::string>& label_names,
                                   const Labels& labels);
}  // namespace internal

// All metrics of one name, one per label set. Made by Registry, which owns it. Thread-safe.
//
// Add() and Remove() take the family's lock: call Add once per label set (for example when a
// model version loads), keep the returned reference, and increment it on the hot path.
template <typename T>
class Family final : public Collector {
 public:
  // Returns the metric for `labels`, created at zero on first use. The reference stays valid
  // until Remove(labels) or the registry is destroyed. The label names must be exactly the
  // family's label names: anything else is a programming error and aborts.
  T& Add(const Labels& labels) {
    if (labels.size() != label_names_.size() ||
        !std::equal(label_names_.begin(), label_names_.end(), labels.begin(),
                    [](const std::string& name, const auto& kv) { return name == kv.first; })) {
      internal::DieLabelMismatch(name_, label_names_, labels);
    }
    absl::MutexLock lock(&mu_);
    std::unique_ptr<T>& metric = metrics_[labels];
    if (metric == nullptr) metric = make_();
    return *metric;
  }

  // Stops exporting `labels` and frees its metric. The caller guarantees that no thread still
  // uses a reference returned by Add for these labels (e.g. the model version is unloaded).
  void Remove(const Labels& labels) {
    absl::MutexLock lock(&mu_);
    metrics_.erase(labels);
  }

  const std::string& name() const { return name_; }

  std::vector<std::string> FamilyNames() const override { return {name_}; }
  void Collect(std::vector<FamilySnapshot>* out) const override {
    FamilySnapshot family{name_, help_, T::kType, {}};
    absl::MutexLock lock(&mu_);
    family.metrics.reserve(metrics_.size());
    for (const auto& [labels, metric] : metrics_) {
      MetricSnapshot& snapshot = family.metrics.emplace_back();
      snapshot.labels = labels;
      metric->Snapshot(&snapshot);
    }
    out->push_back(std::move(family));
  }

 private:
  friend class Registry;
  // `label_names` sorted, to compare against the ordered Labels.
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::function<std::unique_ptr<T>()> make)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_(std::move(make)) {}

  // Constant after construction.
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;

  mutable absl::Mutex mu_;
  std::map<Labels, std::unique_ptr<T>> metrics_ ABSL_GUARDED_BY(mu_);
};

// A gauge family whose values are computed at scrape time by callbacks (pending requests of a
// scheduler, readiness of a model). Made by Registry, which owns it. Thread-safe.
//
// Callbacks run during scrapes under the family's lock, so a Registration's destruction waits
// for a running callback and none runs after it returns. Hence a callback must be fast, must not
// block, must not call into the registry, and must not take a lock that is held while a
// Registration is destroyed. Reading an atomic is the intended use.
class CallbackGaugeFamily final : public Collector {
 public:
  // Keeps a callback registered while alive (move-only RAII). Must not outlive the registry.
  class Registration {
   public:
    Registration() = default;
    Registration(Registration&& other) noexcept;
    Registration& operator=(Registration&& other) noexcept;
    ~Registration() { Reset(); }
    // Unregisters now; afterwards the callback is never called again.
    void Reset();

   private:
    friend class CallbackGaugeFamily;
    Registration(CallbackGaugeFamily* family, Labels labels, uint64_t id)
        : family_(family), labels_(std::move(labels)), id_(id) {}

    CallbackGaugeFamily* family_ = nullptr;
    Labels labels_;
    uint64_t id_ = 0;
  };

  // Exports `callback()` under `labels` until the returned Registration is destroyed. The label
  // names must be the family's (aborts otherwise). If `labels` is already registered, the newer
  // callback replaces it and the older Registration becomes a no-op (a reloaded model version
  // registers before its predecessor unregisters).
  [[nodiscard]] Registration Register(const Labels& labels, std::function<double()> callback);

  const std::string& name() const { return name_; }

  std::vector<std::string> FamilyNames() const override { return {name_}; }
  void Collect(std::vector<FamilySnapshot>* out) const override;

 private:
  friend class Registry;
  struct Entry {
    uint64_t id;
    std::function<double()> callback;
  };
  CallbackGaugeFamily(std::string name, std::string help, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}
  void Unregister(const Labels& labels, uint64_t id);

  // Constant after construction.
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;

  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<Labels, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

// The set of metric families a process exports. Owns its families and collectors; pointers it
// returns stay valid for its lifetime, so it must outlive every component that uses them (create
// it first in main). Thread-safe: families can be added while scrapes run.
//
// Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* without a leading
// "__" (and not "le" for histograms); a family name may be registered once. Violations return
// INVALID_ARGUMENT, a duplicate name ALREADY_EXISTS.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  absl::StatusOr<Family<Counter>*> AddCounter(const std::string& name, const std::string& help,
                                              std::vector<std::string> label_names = {});
  absl::StatusOr<Family<Gauge>*> AddGauge(const std::string& name, const std::string& help,
                                          std::vector<std::string> label_names = {});
  // `bucket_bounds`: finite, strictly increasing upper bounds; +Inf is always added (a trailing
  // +Inf given here is dropped).
  absl::StatusOr<Family<Histogram>*> AddHistogram(const std::string& name, const std::string& help,
                                                  std::vector<std::string> label_names,
                                                  std::vector<double> bucket_bounds);
  absl::StatusOr<CallbackGaugeFamily*> AddCallbackGauge(const std::string& name,
                                                        const std::string& help,
                                                        std::vector<std::string> label_names = {});
  // Adds a custom collector (e.g. ProcessCollector). Its family names must be valid and unused.
  absl::Status AddCollector(std::unique_ptr<Collector> collector);

  // Snapshot of every family that has at least one metric, sorted by name.
  std::vector<FamilySnapshot> Collect() const;
  // Collect() in the Prometheus text exposition format 0.0.4.
  std::string RenderText() const;

 private:
  absl::StatusOr<std::vector<std::string>> CheckNewFamily(const std::string& name,
                                                          std::vector<std::string> label_names,
                                                          bool histogram) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  template <typename T>
  Family<T>* AddFamilyLocked(const std::string& name, const std::string& help,
                             std::vector<std::string> label_names,
                             std::function<std::unique_ptr<T>()> make)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<Collector>> collectors_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> names_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridserve::metrics
