#pragma once

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gridserve::server {

// True for a peer on this machine: "ipv4:127.x.x.x:port", "ipv6:[::1]:port",
// "ipv6:[::ffff:127.x.x.x]:port" or a unix socket (gRPC's peer() strings).
bool IsLoopbackPeer(absl::string_view peer);

// Until authentication lands, RPCs that change the server's models (load, upload, registry
// writes) answer loopback peers only: PERMISSION_DENIED naming `rpc` for anyone else.
absl::Status RequireLoopbackPeer(const grpc::CallbackServerContext& ctx, absl::string_view rpc);

}  // namespace gridserve::server
