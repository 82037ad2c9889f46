#include "runtime/metrics/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/metrics/text_format.h"

namespace gridserve::metrics {
namespace {

void AtomicAdd(std::atomic<double>* target, double v) {
  double old = target->load(std::memory_order_relaxed);
  while (!target->compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

}  // namespace

namespace internal {

void DieLabelMismatch(const std::string& family, const std::vector<std::string>& label_names,
                      const Labels& labels) {
  std::vector<std::string> given;
  for (const auto& [name, value] : labels) given.push_back(name);
  std::fprintf(stderr, "metrics: family %s has labels {%s}, got {%s}\n", family.c_str(),
               absl::StrJoin(label_names, ",").c_str(), absl::StrJoin(given, ",").c_str());
  std::abort();
}

}  // namespace internal

void Counter::Add(double v) {
  if (!(v >= 0)) return;  // also rejects NaN
  AtomicAdd(&fractional_, v);
}

double Counter::Value() const {
  return static_cast<double>(integral_.load(std::memory_order_relaxed)) +
         fractional_.load(std::memory_order_relaxed);
}

void Gauge::Increment(double v) { AtomicAdd(&value_, v); }

Histogram::Histogram(std::shared_ptr<const std::vector<double>> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // First bound >= v: buckets are `le` (inclusive). NaN compares false everywhere: +Inf bucket.
  const size_t bucket =
      std::isnan(v) ? bounds_->size()
                    : std::lower_bound(bounds_->begin(), bounds_->end(), v) - bounds_->begin();
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(&sum_, v);
}

uint64_t Histogram::Count() const {
  uint64_t count = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) count += counts_[i].load(std::memory_order_relaxed);
  return count;
}

void Histogram::Snapshot(MetricSnapshot* out) const {
  out->bucket_bounds = *bounds_;
  out->cumulative_counts.resize(bounds_->size() + 1);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    out->cumulative_counts[i] = cumulative;
  }
  out->sum = Sum();
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
}

std::vector<double> LinearBuckets(double start, double width, int count) {
  std::vector<double> bounds;
  for (int i = 0; i < count; ++i) bounds.push_back(start + i * width);
  return bounds;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

CallbackGaugeFamily::Registration::Registration(Registration&& other) noexcept
    : family_(std::exchange(other.family_, nullptr)),
      labels_(std::move(other.labels_)),
      id_(other.id_) {}

CallbackGaugeFamily::Registration& CallbackGaugeFamily::Registration::operator=(
    Registration&& other) noexcept {
  if (this != &other) {
    Reset();
    family_ = std::exchange(other.family_, nullptr);
    labels_ = std::move(other.labels_);
    id_ = other.id_;
  }
  return *this;
}

void CallbackGaugeFamily::Registration::Reset() {
  if (family_ == nullptr) return;
  std::exchange(family_, nullptr)->Unregister(labels_, id_);
}

CallbackGaugeFamily::Registration CallbackGaugeFamily::Register(const Labels& labels,
                                                                std::function<double()> callback) {
  if (labels.size() != label_names_.size() ||
      !std::equal(label_names_.begin(), label_names_.end(), labels.begin(),
                  [](const std::string& name, const auto& kv) { return name == kv.first; })) {
    internal::DieLabelMismatch(name_, label_names_, labels);
  }
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  entries_[labels] = Entry{id, std::move(callback)};
  return Registration(this, labels, id);
}

void CallbackGaugeFamily::Unregister(const Labels& labels, uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(labels);
  if (it != entries_.end() && it->second.id == id) entries_.erase(it);
}

void CallbackGaugeFamily::Collect(std::vector<FamilySnapshot>* out) const {
  FamilySnapshot family{name_, help_, MetricType::kGauge, {}};
  absl::MutexLock lock(&mu_);
  for (const auto& [labels, entry] : entries_) {
    MetricSnapshot& snapshot = family.metrics.emplace_back();
    snapshot.labels = labels;
    snapshot.value = entry.callback();
  }
  out->push_back(std::move(family));
}

absl::StatusOr<std::vector<std::string>> Registry::CheckNewFamily(
    const std::string& name, std::vector<std::string> label_names, bool histogram) const {
  if (absl::Status status = ValidateMetricName(name); !status.ok()) return status;
  if (std::find(names_.begin(), names_.end(), name) != names_.end()) {
    return absl::AlreadyExistsError(absl::StrCat("metric family '", name, "' already registered"));
  }
  std::sort(label_names.begin(), label_names.end());
  for (size_t i = 0; i < label_names.size(); ++i) {
    if (absl::Status status = ValidateLabelName(label_names[i]); !status.ok()) return status;
    if (i > 0 && label_names[i] == label_names[i - 1]) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric family '", name, "': duplicate label '", label_names[i], "'"));
    }
    if (histogram && label_names[i] == "le") {
      return absl::InvalidArgumentError(
          absl::StrCat("histogram '", name, "' cannot have a label named 'le'"));
    }
  }
  return label_names;
}

template <typename T>
Family<T>* Registry::AddFamilyLocked(const std::string& name, const std::string& help,
                                     std::vector<std::string> label_names,
                                     std::function<std::unique_ptr<T>()> make) {
  auto* family = new Family<T>(name, help, std::move(label_names), std::move(make));
  collectors_.emplace_back(family);
  names_.push_back(name);
  return family;
}

absl::StatusOr<Family<Counter>*> Registry::AddCounter(const std::string& name,
                                                      const std::string& help,
                                                      std::vector<std::string> label_names) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<std::string>> names =
      CheckNewFamily(name, std::move(label_names), /*histogram=*/false);
  if (!names.ok()) return names.status();
  return AddFamilyLocked<Counter>(name, help, *std::move(names),
                                  [] { return std::make_unique<Counter>(); });
}

absl::StatusOr<Family<Gauge>*> Registry::AddGauge(const std::string& name, const std::string& help,
                                                  std::vector<std::string> label_names) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<std::string>> names =
      CheckNewFamily(name, std::move(label_names), /*histogram=*/false);
  if (!names.ok()) return names.status();
  return AddFamilyLocked<Gauge>(name, help, *std::move(names),
                                [] { return std::make_unique<Gauge>(); });
}

absl::StatusOr<Family<Histogram>*> Registry::AddHistogram(const std::string& name,
                                                          const std::string& help,
                                                          std::vector<std::string> label_names,
                                                          std::vector<double> bucket_bounds) {
  if (!bucket_bounds.empty() && bucket_bounds.back() == INFINITY) bucket_bounds.pop_back();
  for (size_t i = 0; i < bucket_bounds.size(); ++i) {
    if (!std::isfinite(bucket_bounds[i]) || (i > 0 && !(bucket_bounds[i] > bucket_bounds[i - 1]))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "histogram '", name, "': bucket bounds must be finite and strictly increasing"));
    }
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<std::string>> names =
      CheckNewFamily(name, std::move(label_names), /*histogram=*/true);
  if (!names.ok()) return names.status();
  auto bounds = std::make_shared<const std::vector<double>>(std::move(bucket_bounds));
  return AddFamilyLocked<Histogram>(name, help, *std::move(names),
                                    [bounds] { return std::make_unique<Histogram>(bounds); });
}

absl::StatusOr<CallbackGaugeFamily*> Registry::AddCallbackGauge(
    const std::string& name, const std::string& help, std::vector<std::string> label_names) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<std::vector<std::string>> names =
      CheckNewFamily(name, std::move(label_names), /*histogram=*/false);
  if (!names.ok()) return names.status();
  auto* family = new CallbackGaugeFamily(name, help, *std::move(names));
  collectors_.emplace_back(family);
  names_.push_back(name);
  return family;
}

absl::Status Registry::AddCollector(std::unique_ptr<Collector> collector) {
  if (collector == nullptr) return absl::InvalidArgumentError("null collector");
  std::vector<std::string> names = collector->FamilyNames();
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < names.size(); ++i) {
    if (std::find(names.begin(), names.begin() + i, names[i]) != names.begin() + i) {
      return absl::InvalidArgumentError(absl::StrCat("collector repeats family '", names[i], "'"));
    }
    absl::StatusOr<std::vector<std::string>> ok = CheckNewFamily(names[i], {}, false);
    if (!ok.ok()) return ok.status();
  }
  names_.insert(names_.end(), names.begin(), names.end());
  collectors_.push_back(std::move(collector));
  return absl::OkStatus();
}

std::vector<FamilySnapshot> Registry::Collect() const {
  // Collectors are never removed, so the pointers outlive the lock; collecting outside it keeps
  // slow collectors and callbacks from blocking registration.
  std::vector<const Collector*> collectors;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& collector : collectors_) collectors.push_back(collector.get());
  }
  std::vector<FamilySnapshot> families;
  for (const Collector* collector : collectors) collector->Collect(&families);
  families.erase(std::remove_if(families.begin(), families.end(),
                                [](const FamilySnapshot& f) { return f.metrics.empty(); }),
                 families.end());
  std::sort(families.begin(), families.end(),
            [](const FamilySnapshot& a, const FamilySnapshot& b) { return a.name < b.name; });
  return families;
}

std::string Registry::RenderText() const { return metrics::RenderText(Collect()); }

}  // namespace gridserve::metrics
