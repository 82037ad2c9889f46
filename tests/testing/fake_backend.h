#pragma once

// A BackendFactory whose instances run on a FakeExecutor, for tests of how ModelManager builds
// instances and schedulers: no LibTorch.

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "runtime/backend/backend.h"
#include "tests/testing/fake_executor.h"

namespace gridserve::testing {

// Every backend it makes creates instances that execute on `executor` (the k-th instance created
// is the executor's Instance(k)), and records the InstanceOptions each was created with.
// Thread-safe. The executor must outlive every instance.
class ExecutorBackendFactory : public backend::BackendFactory {
 public:
  explicit ExecutorBackendFactory(FakeExecutor* executor) : executor_(executor) {}

  absl::StatusOr<std::unique_ptr<backend::Backend>> Create(
      const inference::ModelConfig& config, const std::string& version_dir) override {
    return std::unique_ptr<backend::Backend>(new Backend(this));
  }

  // Options of every instance created, in creation order.
  std::vector<backend::InstanceOptions> instances() const {
    absl::MutexLock lock(&mu_);
    return instances_;
  }

 private:
  class Instance : public backend::ModelInstance {
   public:
    explicit Instance(scheduler::BatchExecutor run) : run_(std::move(run)) {}
    std::vector<absl::StatusOr<core::InferenceResponse>> Execute(
        absl::Span<core::InferenceRequest* const> batch) override {
      return run_(batch);
    }

   private:
    const scheduler::BatchExecutor run_;
  };

  class Backend : public backend::Backend {
   public:
    explicit Backend(ExecutorBackendFactory* factory) : factory_(factory) {}
    absl::StatusOr<std::unique_ptr<backend::ModelInstance>> CreateInstance(
        const backend::InstanceOptions& options) override {
      absl::MutexLock lock(&factory_->mu_);
      size_t index = factory_->instances_.size();
      factory_->instances_.push_back(options);
      return std::unique_ptr<backend::ModelInstance>(
          new Instance(factory_->executor_->Instance(index)));
    }

   private:
    ExecutorBackendFactory* const factory_;
  };

  FakeExecutor* const executor_;
  mutable absl::Mutex mu_;
  std::vector<backend::InstanceOptions> instances_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gridserve::testing
