#include "server/grpc/peer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace gridserve::server {

bool IsLoopbackPeer(absl::string_view peer) {
  return absl::StartsWith(peer, "ipv4:127.") || absl::StartsWith(peer, "ipv6:[::1]:") ||
         absl::StartsWith(peer, "ipv6:[::ffff:127.") || absl::StartsWith(peer, "unix:");
}

absl::Status RequireLoopbackPeer(const grpc::CallbackServerContext& ctx, absl::string_view rpc) {
  const std::string peer = ctx.peer();
  if (IsLoopbackPeer(peer)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      rpc, " changes the server's models and answers loopback clients only (peer ", peer, ")"));
}

}  // namespace gridserve::server
