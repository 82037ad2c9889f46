#pragma once

#include "gridserve/v1/registry.grpc.pb.h"
#include "runtime/repository/model_manager.h"

namespace gridserve::server {

// gridserve.v1.RegistryService: versions with lineage, aliases and traffic splits, over the
// ModelManager (which validates against the disk and keeps routing in step with the store).
// Reads answer anyone; writes answer loopback peers only. Unary callback handlers that finish at
// once (store writes are small). Thread-safe.
class RegistryService final : public gridserve::v1::RegistryService::CallbackService {
 public:
  // `models` must outlive the service.
  explicit RegistryService(repository::ModelManager* models) : models_(models) {}

  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* ctx,
                                       const gridserve::v1::ListModelsRequest* request,
                                       gridserve::v1::ListModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetModelVersion(
      grpc::CallbackServerContext* ctx, const gridserve::v1::GetModelVersionRequest* request,
      gridserve::v1::GetModelVersionResponse* response) override;
  grpc::ServerUnaryReactor* SetAlias(grpc::CallbackServerContext* ctx,
                                     const gridserve::v1::SetAliasRequest* request,
                                     gridserve::v1::SetAliasResponse* response) override;
  grpc::ServerUnaryReactor* DeleteAlias(grpc::CallbackServerContext* ctx,
                                        const gridserve::v1::DeleteAliasRequest* request,
                                        gridserve::v1::DeleteAliasResponse* response) override;
  grpc::ServerUnaryReactor* SetTrafficSplit(
      grpc::CallbackServerContext* ctx, const gridserve::v1::SetTrafficSplitRequest* request,
      gridserve::v1::SetTrafficSplitResponse* response) override;
  grpc::ServerUnaryReactor* GetTrafficSplit(
      grpc::CallbackServerContext* ctx, const gridserve::v1::GetTrafficSplitRequest* request,
      gridserve::v1::GetTrafficSplitResponse* response) override;
  grpc::ServerUnaryReactor* SetVersionLabels(
      grpc::CallbackServerContext* ctx, const gridserve::v1::SetVersionLabelsRequest* request,
      gridserve::v1::SetVersionLabelsResponse* response) override;

 private:
  // One model's versions (registry records joined with the serving state), aliases and split.
  absl::Status FillModel(const std::string& name, gridserve::v1::RegisteredModel* out) const;

  repository::ModelManager* const models_;
};

}  // namespace gridserve::server
