#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/options.h"

namespace gridserve::server {

// Parses Triton-style command-line flags (`--name=value` or `--name value`; booleans also as
// bare `--name`) into ServerOptions. INVALID_ARGUMENT names the offending flag. `--help` yields
// a FAILED_PRECONDITION whose message is the usage text.
absl::StatusOr<ServerOptions> ParseFlags(const std::vector<std::string>& args);

// The usage text listing every flag with its default.
std::string Usage();

}  // namespace gridserve::server
