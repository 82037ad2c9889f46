#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "runtime/registry/metadata_store.h"
#include "runtime/repository/model_manager.h"

namespace gridserve::server {

// The model-lifecycle families (docs/metrics.md):
//   gridserve_model_loads_total{model, result="success"|"failure"}  one per version load attempt
//   gridserve_model_alias_info{model, alias, version} 1              one series per alias
//   gridserve_model_traffic_split_weight{model, version}             the split's weights
// (gridserve_model_load_duration_seconds and gridserve_model_ready, per version, belong to
// InferenceMetrics.) Thread-safe. The registry must outlive it.
class LifecycleMetrics {
 public:
  static absl::StatusOr<std::unique_ptr<LifecycleMetrics>> Create(prometheus::Registry* registry);

  void OnLoad(const repository::LoadEvent& event);
  // Replaces the alias and split series of `model` with these.
  void PublishRouting(const std::string& model, const std::map<std::string, int64_t>& aliases,
                      const registry::TrafficSplit& split);

 private:
  LifecycleMetrics() = default;

  // Constant after Create; owned by the registry.
  prometheus::Family<prometheus::Counter>* loads_ = nullptr;
  prometheus::Family<prometheus::Gauge>* alias_info_ = nullptr;
  prometheus::Family<prometheus::Gauge>* split_weight_ = nullptr;

  absl::Mutex mu_;
  // The series published per model, so that a removed alias or split entry disappears.
  std::map<std::string, std::vector<prometheus::Gauge*>> aliases_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<prometheus::Gauge*>> splits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridserve::server
