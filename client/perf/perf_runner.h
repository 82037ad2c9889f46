#pragma once

// gridserve-perf's logic, apart from main() so that tests run it in-process.

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/perf/perf_options.h"
#include "client/perf/report.h"

namespace gridserve::client::perf {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // the server or model could not be used
inline constexpr int kExitUsage = 2;  // bad command line

// Runs every step of `options` against the server and returns the results. `progress` gets the
// human-readable report as each step finishes. UNAVAILABLE / NOT_FOUND / ... from the server's
// metadata calls, INVALID_ARGUMENT when no request can be built.
absl::StatusOr<RunReport> RunPerf(const PerfOptions& options, std::ostream& progress);

// The whole program: parses `args` (argv without the program name), runs, writes -f and --json
// output. Returns one of the exit codes above.
int PerfMain(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gridserve::client::perf
