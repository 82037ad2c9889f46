#include "runtime/repository/batching_config.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "runtime/core/status_macros.h"

namespace gridserve::repository {
namespace {

using scheduler::DynamicBatchScheduler;

absl::StatusOr<DynamicBatchScheduler::QueuePolicy> QueuePolicyFromConfig(
    const inference::ModelConfig& config, const inference::ModelQueuePolicy& policy) {
  DynamicBatchScheduler::QueuePolicy out;
  out.max_queue_size = policy.max_queue_size();
  out.default_timeout_us = policy.default_timeout_microseconds();
  out.allow_timeout_override = policy.allow_timeout_override();
  switch (policy.timeout_action()) {
    case inference::ModelQueuePolicy::REJECT:
      out.timeout_action = DynamicBatchScheduler::TimeoutAction::kReject;
      break;
    case inference::ModelQueuePolicy::DELAY:
      out.timeout_action = DynamicBatchScheduler::TimeoutAction::kDelay;
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("model '", config.name(),
                                                     "': unknown queue policy timeout_action ",
                                                     static_cast<int>(policy.timeout_action())));
  }
  return out;
}

}  // namespace

bool UsesDynamicBatching(const inference::ModelConfig& config) {
  return config.max_batch_size() > 0 && config.has_dynamic_batching();
}

absl::StatusOr<DynamicBatchScheduler::Options> DynamicBatchOptionsFromConfig(
    const inference::ModelConfig& config) {
  const inference::ModelDynamicBatching& batching = config.dynamic_batching();
  constexpr uint64_t kMaxLevel = std::numeric_limits<uint32_t>::max();
  if (batching.priority_levels() > kMaxLevel || batching.default_priority_level() > kMaxLevel) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model '", config.name(), "': priority_levels ", batching.priority_levels(),
        " or default_priority_level ", batching.default_priority_level(), " is out of range"));
  }
  DynamicBatchScheduler::Options options;
  options.max_batch_size = config.max_batch_size();
  options.preferred_batch_sizes.assign(batching.preferred_batch_size().begin(),
                                       batching.preferred_batch_size().end());
  options.max_queue_delay_us = batching.max_queue_delay_microseconds();
  options.preserve_ordering = batching.preserve_ordering();
  options.priority_levels = static_cast<uint32_t>(batching.priority_levels());
  options.default_priority_level = static_cast<uint32_t>(batching.default_priority_level());
  ASSIGN_OR_RETURN(options.default_queue_policy,
                   QueuePolicyFromConfig(config, batching.default_queue_policy()));
  for (const auto& [level, policy] : batching.priority_queue_policy()) {
    if (level < 1 || level > batching.priority_levels()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model '", config.name(), "': priority_queue_policy for level ", level,
                       " is outside [1, priority_levels ", batching.priority_levels(), "]"));
    }
    ASSIGN_OR_RETURN(options.priority_queue_policy[static_cast<uint32_t>(level)],
                     QueuePolicyFromConfig(config, policy));
  }
  return options;
}

}  // namespace gridserve::repository
