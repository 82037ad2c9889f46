#pragma once

#include "gridserve/v1/server_info.grpc.pb.h"

namespace gridserve::server {

// gridserve.v1.ServerInfoService: the process's build and the CPU kernels it chose at start-up
// (`gridserve-cli health --verbose`). The answer is fixed at construction. Thread-safe.
class ServerInfoService final : public gridserve::v1::ServerInfoService::CallbackService {
 public:
  explicit ServerInfoService(gridserve::v1::GetServerInfoResponse info) : info_(std::move(info)) {}

  grpc::ServerUnaryReactor* GetServerInfo(grpc::CallbackServerContext* ctx,
                                          const gridserve::v1::GetServerInfoRequest* request,
                                          gridserve::v1::GetServerInfoResponse* response) override;

 private:
  const gridserve::v1::GetServerInfoResponse info_;
};

}  // namespace gridserve::server
