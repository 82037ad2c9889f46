#pragma once

#include "absl/status/statusor.h"
#include "inference/model_config.pb.h"
#include "runtime/scheduler/dynamic_batch_scheduler.h"

namespace gridserve::repository {

// True when a model version gets a DynamicBatchScheduler: its config has a `dynamic_batching`
// block and max_batch_size > 0. Every other model runs each request as it comes
// (DirectScheduler).
bool UsesDynamicBatching(const inference::ModelConfig& config);

// Translates the config's max_batch_size and `dynamic_batching` block (Triton's field for field:
// preferred_batch_size, max_queue_delay_microseconds, preserve_ordering, priority_levels,
// default_priority_level, default_queue_policy, priority_queue_policy) into scheduler options.
// Leaves clock and observers unset. INVALID_ARGUMENT, naming the model, for values the scheduler
// cannot honour (unknown timeout_action, levels out of range); DynamicBatchScheduler::Create
// checks the rest.
absl::StatusOr<scheduler::DynamicBatchScheduler::Options> DynamicBatchOptionsFromConfig(
    const inference::ModelConfig& config);

}  // namespace gridserve::repository
