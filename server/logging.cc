#include "server/logging.h"

#include <cstdio>
#include <memory>

#include "spdlog/pattern_formatter.h"
#include "spdlog/spdlog.h"

namespace gridserve::server {
namespace {

// %* : the log message, JSON-escaped.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped = JsonEscape(std::string(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

std::string JsonEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

absl::Status SetupLogging(int verbose, const std::string& format) {
  if (format != "default" && format != "json") {
    return absl::InvalidArgumentError("--log-format must be 'default' or 'json', got '" + format +
                                      "'");
  }
  spdlog::set_level(verbose > 0 ? spdlog::level::debug : spdlog::level::info);
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","message":"%*"})");
    spdlog::set_formatter(std::move(formatter));
  } else {
    spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%l] %v");
  }
  // Module loggers (runtime/core/logging.h) are clones of the default logger, made on first use,
  // so they inherit this level and format. The default logger itself is named after the process.
  auto process_logger = spdlog::default_logger()->clone("gridserve");
  process_logger->set_level(verbose > 0 ? spdlog::level::debug : spdlog::level::info);
  spdlog::set_default_logger(process_logger);
  return absl::OkStatus();
}

}  // namespace gridserve::server
