#include "server/grpc/server_info_service.h"

namespace gridserve::server {

grpc::ServerUnaryReactor* ServerInfoService::GetServerInfo(
    grpc::CallbackServerContext* ctx, const gridserve::v1::GetServerInfoRequest*,
    gridserve::v1::GetServerInfoResponse* response) {
  *response = info_;
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace gridserve::server
