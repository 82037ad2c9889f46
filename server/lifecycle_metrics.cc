#include "server/lifecycle_metrics.h"

#include "runtime/core/status_macros.h"

namespace gridserve::server {

absl::StatusOr<std::unique_ptr<LifecycleMetrics>> LifecycleMetrics::Create(
    metrics::Registry* registry) {
  std::unique_ptr<LifecycleMetrics> m(new LifecycleMetrics());
  ASSIGN_OR_RETURN(m->loads_, registry->AddCounter("gridserve_model_loads_total",
                                                   "Model version load attempts, by result.",
                                                   {"model", "result"}));
  ASSIGN_OR_RETURN(m->alias_info_,
                   registry->AddGauge("gridserve_model_alias_info",
                                      "1 for each alias, labelled with the version it names.",
                                      {"model", "alias", "version"}));
  ASSIGN_OR_RETURN(m->split_weight_,
                   registry->AddGauge("gridserve_model_traffic_split_weight",
                                      "Weight of a version in the model's traffic split.",
                                      {"model", "version"}));
  return m;
}

void LifecycleMetrics::OnLoad(const repository::LoadEvent& event) {
  loads_->Add({{"model", event.model}, {"result", event.ok ? "success" : "failure"}}).Increment();
}

void LifecycleMetrics::PublishRouting(const std::string& model,
                                      const std::map<std::string, int64_t>& aliases,
                                      const registry::TrafficSplit& split) {
  absl::MutexLock lock(&mu_);
  for (const metrics::Labels& labels : aliases_[model]) alias_info_->Remove(labels);
  for (const metrics::Labels& labels : splits_[model]) split_weight_->Remove(labels);
  aliases_[model].clear();
  splits_[model].clear();
  for (const auto& [alias, version] : aliases) {
    metrics::Labels labels = {
        {"model", model}, {"alias", alias}, {"version", std::to_string(version)}};
    alias_info_->Add(labels).Set(1);
    aliases_[model].push_back(std::move(labels));
  }
  for (const auto& [version, weight] : split) {
    metrics::Labels labels = {{"model", model}, {"version", std::to_string(version)}};
    split_weight_->Add(labels).Set(weight);
    splits_[model].push_back(std::move(labels));
  }
}

}  // namespace gridserve::server
