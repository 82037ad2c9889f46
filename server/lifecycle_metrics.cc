#include "server/lifecycle_metrics.h"

#include "runtime/core/status_macros.h"
#include "runtime/metrics/metrics.h"

namespace gridserve::server {

absl::StatusOr<std::unique_ptr<LifecycleMetrics>> LifecycleMetrics::Create(
    prometheus::Registry* registry) {
  std::unique_ptr<LifecycleMetrics> m(new LifecycleMetrics());
  ASSIGN_OR_RETURN(
      m->loads_, metrics::Register<prometheus::Counter>(registry, "gridserve_model_loads_total",
                                                        "Model version load attempts, by result."));
  ASSIGN_OR_RETURN(m->alias_info_, metrics::Register<prometheus::Gauge>(
                                       registry, "gridserve_model_alias_info",
                                       "1 for each alias, labelled with the version it names."));
  ASSIGN_OR_RETURN(m->split_weight_, metrics::Register<prometheus::Gauge>(
                                         registry, "gridserve_model_traffic_split_weight",
                                         "Weight of a version in the model's traffic split."));
  return m;
}

void LifecycleMetrics::OnLoad(const repository::LoadEvent& event) {
  loads_->Add({{"model", event.model}, {"result", event.ok ? "success" : "failure"}}).Increment();
}

void LifecycleMetrics::PublishRouting(const std::string& model,
                                      const std::map<std::string, int64_t>& aliases,
                                      const registry::TrafficSplit& split) {
  absl::MutexLock lock(&mu_);
  for (prometheus::Gauge* gauge : aliases_[model]) alias_info_->Remove(gauge);
  for (prometheus::Gauge* gauge : splits_[model]) split_weight_->Remove(gauge);
  aliases_[model].clear();
  splits_[model].clear();
  for (const auto& [alias, version] : aliases) {
    prometheus::Gauge& gauge = alias_info_->Add(
        {{"model", model}, {"alias", alias}, {"version", std::to_string(version)}});
    gauge.Set(1);
    aliases_[model].push_back(&gauge);
  }
  for (const auto& [version, weight] : split) {
    prometheus::Gauge& gauge =
        split_weight_->Add({{"model", model}, {"version", std::to_string(version)}});
    gauge.Set(weight);
    splits_[model].push_back(&gauge);
  }
}

}  // namespace gridserve::server
