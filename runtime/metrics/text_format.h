#pragma once

// The Prometheus text exposition format, version 0.0.4:
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime/metrics/metrics.h"

namespace gridserve::metrics {

// The Content-Type a /metrics response carries.
inline constexpr char kTextContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// Renders `families` in order: for each, "# HELP", "# TYPE", then one line per sample (histograms:
// _bucket lines with `le` last and ascending, then _sum and _count). Families without metrics are
// skipped. Names are not validated here; Registry does that on registration.
std::string RenderText(const std::vector<FamilySnapshot>& families);

// Shortest text that parses back to exactly `v`, laid out as the official Go client does
// (strconv 'g' -1: "0.005", "0.0001", "1e-05", "123456", "1.234567e+06"); "+Inf", "-Inf" and
// "NaN" for the special values.
std::string FormatDouble(double v);

// Label values escape backslash, double quote and newline; HELP text backslash and newline.
std::string EscapeLabelValue(absl::string_view value);
std::string EscapeHelp(absl::string_view help);

// INVALID_ARGUMENT unless `name` matches [a-zA-Z_:][a-zA-Z0-9_:]*.
absl::Status ValidateMetricName(absl::string_view name);
// INVALID_ARGUMENT unless `name` matches [a-zA-Z_][a-zA-Z0-9_]* and does not start with "__".
absl::Status ValidateLabelName(absl::string_view name);

}  // namespace gridserve::metrics
