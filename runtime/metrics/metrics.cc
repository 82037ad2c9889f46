#include "runtime/metrics/metrics.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"

namespace gridserve::metrics {

namespace internal {

absl::Status RegistrationError(const std::string& name, const std::exception& error) {
  const std::string message =
      absl::StrCat("cannot register metric family '", name, "': ", error.what());
  // prometheus-cpp 1.0 throws std::invalid_argument for both; only its message tells them apart.
  if (absl::StrContains(error.what(), "already exists")) return absl::AlreadyExistsError(message);
  return absl::InvalidArgumentError(message);
}

}  // namespace internal

prometheus::Histogram::BucketBoundaries DefaultLatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
          0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30,    60};
}

prometheus::Histogram::BucketBoundaries ExponentialBuckets(double start, double factor, int count) {
  prometheus::Histogram::BucketBoundaries bounds;
  double bound = start;
  for (int i = 0; i < count; ++i, bound *= factor) bounds.push_back(bound);
  return bounds;
}

std::string SerializeText(const std::vector<const prometheus::Collectable*>& collectables) {
  std::vector<prometheus::MetricFamily> families;
  for (const prometheus::Collectable* collectable : collectables) {
    std::vector<prometheus::MetricFamily> collected = collectable->Collect();
    for (prometheus::MetricFamily& family : collected) {
      if (!family.metric.empty()) families.push_back(std::move(family));
    }
  }
  // prometheus-cpp keeps a family's metrics in a hash map: order them by label set (labels are
  // already sorted by name within a metric), and the families by name.
  std::sort(families.begin(), families.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  for (prometheus::MetricFamily& family : families) {
    std::sort(family.metric.begin(), family.metric.end(),
              [](const auto& a, const auto& b) { return a.label < b.label; });
  }
  return prometheus::TextSerializer().Serialize(families);
}

void AppendSingleValue(const char* name, const char* help, prometheus::MetricType type,
                       std::optional<double> value, std::vector<prometheus::MetricFamily>* out) {
  if (!value) return;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = *value;
  } else {
    metric.gauge.value = *value;
  }
  out->push_back(prometheus::MetricFamily{name, help, type, {std::move(metric)}});
}

}  // namespace gridserve::metrics
