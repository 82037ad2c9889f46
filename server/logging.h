#pragma once

#include <string>

#include "absl/status/status.h"

namespace gridserve::server {

// Configures spdlog for the process: level from --log-verbose (0 info, >= 1 debug) and format
// from --log-format: "default" (human-readable) or "json" (one JSON object per line with time,
// level, logger and message, the message escaped). Applies to every named logger (server,
// repository, scheduler, backend, metrics), existing and future. INVALID_ARGUMENT for an unknown
// format.
absl::Status SetupLogging(int verbose, const std::string& format);

// `text` as the body of a JSON string (quotes, backslashes and control bytes escaped; other bytes
// copied unchanged).
std::string JsonEscape(const std::string& text);

}  // namespace gridserve::server
