#pragma once

// gridserve-cli's model-management commands: `models list|versions|index|load|unload|upload`,
// `alias set|rm`, `split set|get`. They talk to RepositoryIndex/Load/Unload (any Triton-compatible
// server) and to gridserve.v1.RegistryService (gridserve only). Kept apart from cli.cc so the
// inference commands and these evolve separately.

#include <ostream>
#include <string>
#include <vector>

namespace gridserve::client {

// The help text of these commands (part of `gridserve-cli --help`).
extern const char kModelCommandsUsage[];

// True when `args` (argv without the program name) name one of these commands.
bool IsModelCommand(const std::vector<std::string>& args);

// Runs one of these commands; the same exit codes as RunCli (cli.h).
int RunModelCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace gridserve::client
