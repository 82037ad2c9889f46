#pragma once

#include <memory>
#include <string>

#include "spdlog/spdlog.h"

namespace gridserve::core {

// The named logger of one module ("server", "repository", "scheduler", "backend", "metrics"):
// made on first use as a clone of spdlog's default logger, so it follows the level and format the
// process set up (server/logging.h). Thread-safe.
inline std::shared_ptr<spdlog::logger> ModuleLogger(const std::string& name) {
  std::shared_ptr<spdlog::logger> logger = spdlog::get(name);
  if (logger) return logger;
  logger = spdlog::default_logger()->clone(name);
  try {
    spdlog::register_logger(logger);
  } catch (const spdlog::spdlog_ex&) {
    return spdlog::get(name);  // another thread registered it first
  }
  return logger;
}

}  // namespace gridserve::core
