#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace gridserve::server {

// The one place absl::Status becomes grpc::Status: the code is kept (both use the canonical
// codes) and the message is passed through.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace gridserve::server
