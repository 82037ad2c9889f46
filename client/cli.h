#pragma once

// gridserve-cli: a command-line client for KServe v2 gRPC servers (gridserve, Triton).
// The logic lives here, apart from main(), so that tests can run it in-process.

#include <ostream>
#include <string>
#include <vector>

namespace gridserve::client {

// Exit codes of RunCli.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;  // The server failed the call: "error: CODE: message".
// The command line is wrong (usage goes to `err`), or a local input could not be used (a
// missing file, bad JSON): "gridserve-cli: message", and nothing was sent.
inline constexpr int kExitUsage = 2;

// The --help text.
extern const char kCliUsage[];

// Runs one command. `args` is argv without the program name. Results go to `out`, errors and
// usage to `err`. Returns one of the exit codes above. Blocks for the duration of the RPCs.
int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gridserve::client
