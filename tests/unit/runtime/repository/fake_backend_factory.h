#pragma once

// A BackendFactory for ModelManager tests: no LibTorch, deterministic, observable.

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "runtime/backend/backend.h"

namespace gridserve::testing {

// Makes fake backends. A version folder holding a file named `FAIL_LOAD` fails to load with
// INVALID_ARGUMENT. Instances answer each request by echoing input i as config output i (the
// last input when there are fewer inputs than outputs). Execution can be held at a gate so tests
// can observe in-flight requests. Thread-safe; backends and instances share the factory's state,
// so they may outlive the factory.
class FakeBackendFactory : public backend::BackendFactory {
 public:
  struct State {
    absl::Mutex mu;
    bool gate_open ABSL_GUARDED_BY(mu) = true;
    int executing ABSL_GUARDED_BY(mu) = 0;
    int executed ABSL_GUARDED_BY(mu) = 0;
    std::vector<std::string> loaded_dirs ABSL_GUARDED_BY(mu);
    int instances ABSL_GUARDED_BY(mu) = 0;
    std::vector<int> intra_op_threads ABSL_GUARDED_BY(mu);
  };

  FakeBackendFactory() : state_(std::make_shared<State>()) {}

  absl::StatusOr<std::unique_ptr<backend::Backend>> Create(
      const inference::ModelConfig& config, const std::string& version_dir) override {
    std::error_code ec;
    if (std::filesystem::exists(std::filesystem::path(version_dir) / "FAIL_LOAD", ec)) {
      return absl::InvalidArgumentError("fake load failure in " + version_dir);
    }
    {
      absl::MutexLock lock(&state_->mu);
      state_->loaded_dirs.push_back(version_dir);
    }
    return std::unique_ptr<backend::Backend>(new Backend(config, state_));
  }

  // While closed, Execute blocks (counted in executing()) until OpenGate().
  void CloseGate() {
    absl::MutexLock lock(&state_->mu);
    state_->gate_open = false;
  }
  void OpenGate() {
    absl::MutexLock lock(&state_->mu);
    state_->gate_open = true;
  }
  // Blocks until at least `n` executions are held at (or passing) the gate.
  void WaitForExecuting(int n) {
    struct Arg {
      State* state;
      int n;
    } arg{state_.get(), n};
    absl::MutexLock lock(&state_->mu);
    state_->mu.Await(absl::Condition(
        +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->state->executing >= a->n; }, &arg));
  }

  std::vector<std::string> loaded_dirs() const {
    absl::MutexLock lock(&state_->mu);
    return state_->loaded_dirs;
  }
  int instances() const {
    absl::MutexLock lock(&state_->mu);
    return state_->instances;
  }
  std::vector<int> intra_op_threads() const {
    absl::MutexLock lock(&state_->mu);
    return state_->intra_op_threads;
  }
  int executed() const {
    absl::MutexLock lock(&state_->mu);
    return state_->executed;
  }

 private:
  class Instance : public backend::ModelInstance {
   public:
    Instance(inference::ModelConfig config, std::shared_ptr<State> state)
        : config_(std::move(config)), state_(std::move(state)) {}

    std::vector<absl::StatusOr<core::InferenceResponse>> Execute(
        absl::Span<core::InferenceRequest* const> batch) override {
      {
        absl::MutexLock lock(&state_->mu);
        ++state_->executing;
        state_->mu.Await(absl::Condition(&state_->gate_open));
      }
      std::vector<absl::StatusOr<core::InferenceResponse>> results;
      for (core::InferenceRequest* r : batch) {
        core::InferenceResponse response;
        response.model_name = r->model_name;
        response.model_version = r->model_version;
        response.id = r->id;
        for (int i = 0; i < config_.output_size() && !r->inputs.empty(); ++i) {
          size_t from = std::min<size_t>(i, r->inputs.size() - 1);
          response.outputs.push_back({config_.output(i).name(), r->inputs[from].tensor});
        }
        results.emplace_back(std::move(response));
      }
      absl::MutexLock lock(&state_->mu);
      --state_->executing;
      ++state_->executed;
      return results;
    }

   private:
    const inference::ModelConfig config_;
    const std::shared_ptr<State> state_;
  };

  class Backend : public backend::Backend {
   public:
    Backend(inference::ModelConfig config, std::shared_ptr<State> state)
        : config_(std::move(config)), state_(std::move(state)) {}

    absl::StatusOr<std::unique_ptr<backend::ModelInstance>> CreateInstance(
        const backend::InstanceOptions& options) override {
      absl::MutexLock lock(&state_->mu);
      ++state_->instances;
      state_->intra_op_threads.push_back(options.intra_op_threads);
      return std::unique_ptr<backend::ModelInstance>(new Instance(config_, state_));
    }

   private:
    const inference::ModelConfig config_;
    const std::shared_ptr<State> state_;
  };

  const std::shared_ptr<State> state_;
};

}  // namespace gridserve::testing
