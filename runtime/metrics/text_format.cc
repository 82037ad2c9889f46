#include "runtime/metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace gridserve::metrics {
namespace {

void AppendEscaped(absl::string_view text, bool quote, std::string* out) {
  for (char c : text) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '"':
        if (quote) {
          out->append("\\\"");
          break;
        }
        [[fallthrough]];
      default:
        out->push_back(c);
    }
  }
}

// Appends `{a="x",b="y"}` (with `le` last when given), or nothing for an empty label set.
void AppendLabels(const Labels& labels, absl::string_view le, std::string* out) {
  if (labels.empty() && le.empty()) return;
  out->push_back('{');
  bool first = true;
  auto append_pair = [&](absl::string_view name, absl::string_view value) {
    if (!first) out->push_back(',');
    first = false;
    absl::StrAppend(out, name, "=\"");
    AppendEscaped(value, /*quote=*/true, out);
    out->push_back('"');
  };
  for (const auto& [name, value] : labels) append_pair(name, value);
  if (!le.empty()) append_pair("le", le);
  out->push_back('}');
}

void AppendSample(absl::string_view name, absl::string_view suffix, const Labels& labels,
                  absl::string_view le, absl::string_view value, std::string* out) {
  absl::StrAppend(out, name, suffix);
  AppendLabels(labels, le, out);
  absl::StrAppend(out, " ", value, "\n");
}

absl::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::string FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Shortest round-trip digits, then laid out as Go's strconv.FormatFloat(v, 'g', -1, 64), which
  // the official clients use (so `le` values read "0.0001", not "1e-04", as dashboards expect).
  char buffer[40];
  const std::to_chars_result result =
      std::to_chars(buffer, buffer + sizeof(buffer), v, std::chars_format::scientific);
  absl::string_view scientific(buffer, result.ptr - buffer);  // "-1.2345e-05"
  std::string out;
  if (absl::ConsumePrefix(&scientific, "-")) out.push_back('-');
  const size_t e = scientific.find('e');
  std::string digits;
  for (char c : scientific.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exponent = 0;
  std::from_chars(scientific.data() + e + 2, scientific.data() + scientific.size(), exponent);
  if (scientific[e + 1] == '-') exponent = -exponent;

  if (exponent < -4 || exponent >= 6) {
    out.push_back(digits[0]);
    if (digits.size() > 1) absl::StrAppend(&out, ".", absl::string_view(digits).substr(1));
    absl::StrAppend(&out, exponent < 0 ? "e-" : "e+", std::abs(exponent) < 10 ? "0" : "",
                    std::abs(exponent));
  } else if (exponent < 0) {
    absl::StrAppend(&out, "0.", std::string(-exponent - 1, '0'), digits);
  } else if (digits.size() <= static_cast<size_t>(exponent) + 1) {
    absl::StrAppend(&out, digits, std::string(exponent + 1 - digits.size(), '0'));
  } else {
    absl::StrAppend(&out, absl::string_view(digits).substr(0, exponent + 1), ".",
                    absl::string_view(digits).substr(exponent + 1));
  }
  return out;
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  AppendEscaped(value, /*quote=*/true, &out);
  return out;
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  AppendEscaped(help, /*quote=*/false, &out);
  return out;
}

absl::Status ValidateMetricName(absl::string_view name) {
  bool ok = !name.empty() && (IsNameStart(name[0]) || name[0] == ':');
  for (char c : name) ok = ok && (IsNameStart(c) || IsDigit(c) || c == ':');
  if (!ok) return absl::InvalidArgumentError(absl::StrCat("invalid metric name '", name, "'"));
  return absl::OkStatus();
}

absl::Status ValidateLabelName(absl::string_view name) {
  bool ok = !name.empty() && IsNameStart(name[0]) && !absl::StartsWith(name, "__");
  for (char c : name) ok = ok && (IsNameStart(c) || IsDigit(c));
  if (!ok) return absl::InvalidArgumentError(absl::StrCat("invalid label name '", name, "'"));
  return absl::OkStatus();
}

std::string RenderText(const std::vector<FamilySnapshot>& families) {
  std::string out;
  for (const FamilySnapshot& family : families) {
    if (family.metrics.empty()) continue;
    absl::StrAppend(&out, "# HELP ", family.name, " ");
    AppendEscaped(family.help, /*quote=*/false, &out);
    absl::StrAppend(&out, "\n# TYPE ", family.name, " ", TypeName(family.type), "\n");
    for (const MetricSnapshot& metric : family.metrics) {
      if (family.type != MetricType::kHistogram) {
        AppendSample(family.name, "", metric.labels, "", FormatDouble(metric.value), &out);
        continue;
      }
      const size_t finite = metric.bucket_bounds.size();
      for (size_t i = 0; i < metric.cumulative_counts.size(); ++i) {
        const std::string le = i < finite ? FormatDouble(metric.bucket_bounds[i]) : "+Inf";
        AppendSample(family.name, "_bucket", metric.labels, le,
                     absl::StrCat(metric.cumulative_counts[i]), &out);
      }
      const uint64_t count = metric.cumulative_counts.empty() ? 0 : metric.cumulative_counts.back();
      AppendSample(family.name, "_sum", metric.labels, "", FormatDouble(metric.sum), &out);
      AppendSample(family.name, "_count", metric.labels, "", absl::StrCat(count), &out);
    }
  }
  return out;
}

}  // namespace gridserve::metrics
