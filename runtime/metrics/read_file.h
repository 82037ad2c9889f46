#pragma once

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

namespace gridserve::metrics {

// The whole content of a (procfs) file, or nullopt when it cannot be opened. For collectors that
// read /proc at scrape time.
inline std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace gridserve::metrics
