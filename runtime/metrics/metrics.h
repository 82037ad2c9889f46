#pragma once

// gridserve's metrics are prometheus-cpp's (Debian's prometheus-cpp-dev 1.0.1): counters, gauges
// and histograms live in a prometheus::Registry; prometheus::TextSerializer renders them. This
// header holds the little the library leaves to us: registration that returns absl::Status
// instead of throwing, bucket layouts, and several collectables as one sorted /metrics body.
//
// How a module adds a family (once, at set-up; the hot path only touches the metric):
//
//   // In the module's `XxxMetrics::Create(prometheus::Registry* registry)`:
//   ASSIGN_OR_RETURN(
//       prometheus::Family<prometheus::Counter>* loads,
//       metrics::Register<prometheus::Counter>(registry, "gridserve_model_loads_total",
//                                              "Model loads, by result."));
//   // When the label values are known (a model loads), keep the reference:
//   prometheus::Counter& ok = loads->Add({{"model", name}, {"result", "success"}});
//   ok.Increment();  // lock-free (one CAS), from any thread
//
// Histograms take their bounds per label set: `family->Add(labels, DefaultLatencyBuckets())`.
// A family whose values come from elsewhere at scrape time (procfs, a scheduler's queue) is a
// prometheus::Collectable instead (see ProcessCollector) that the server hands to /metrics.

#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace gridserve::metrics {

namespace internal {
// The Status for what prometheus-cpp threw while registering family `name`.
absl::Status RegistrationError(const std::string& name, const std::exception& error);
}  // namespace internal

// Registers family `name` of type T (prometheus::Counter, Gauge or Histogram) in `registry` and
// returns it: owned by the registry, valid for its lifetime. INVALID_ARGUMENT for a null registry
// or an invalid name ([a-zA-Z_:][a-zA-Z0-9_:]*); ALREADY_EXISTS when `name` is taken by another
// type, or by any family when the registry was made with InsertBehavior::Throw (the server's is,
// so two modules cannot silently share a family; the default Merge returns the existing one).
template <typename T>
absl::StatusOr<prometheus::Family<T>*> Register(prometheus::Registry* registry,
                                                const std::string& name, const std::string& help) {
  static_assert(std::is_same_v<T, prometheus::Counter> || std::is_same_v<T, prometheus::Gauge> ||
                    std::is_same_v<T, prometheus::Histogram>,
                "a gridserve family is a Counter, Gauge or Histogram");
  if (registry == nullptr) return absl::InvalidArgumentError("metrics registry is null");
  try {
    if constexpr (std::is_same_v<T, prometheus::Counter>) {
      return &prometheus::BuildCounter().Name(name).Help(help).Register(*registry);
    } else if constexpr (std::is_same_v<T, prometheus::Gauge>) {
      return &prometheus::BuildGauge().Name(name).Help(help).Register(*registry);
    } else {
      return &prometheus::BuildHistogram().Name(name).Help(help).Register(*registry);
    }
  } catch (const std::exception& error) {  // std::invalid_argument in prometheus-cpp 1.0
    return internal::RegistrationError(name, error);
  }
}

// Latency buckets in seconds, 100 us to 60 s, for the request/queue/compute histograms.
prometheus::Histogram::BucketBoundaries DefaultLatencyBuckets();
// `count` bounds start, start*factor, ... (e.g. batch sizes 1..512: ExponentialBuckets(1, 2, 10)).
prometheus::Histogram::BucketBoundaries ExponentialBuckets(double start, double factor, int count);

// The Content-Type a /metrics response carries.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Every family of `collectables` in the Prometheus text exposition format 0.0.4, rendered by
// prometheus::TextSerializer; families sorted by name and each family's metrics by label set,
// so a scrape reads (and diffs) the same every time. Families without metrics are left out.
// Thread-safe as the collectables are; the pointers must be valid for the call.
std::string SerializeText(const std::vector<const prometheus::Collectable*>& collectables);

// Appends a family of one unlabeled sample, for collectors that compute values at scrape time.
// `type` is Counter or Gauge. Does nothing when `value` has no value (it could not be read).
void AppendSingleValue(const char* name, const char* help, prometheus::MetricType type,
                       std::optional<double> value, std::vector<prometheus::MetricFamily>* out);

}  // namespace gridserve::metrics
