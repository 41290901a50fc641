#include "tools/loadgen/prometheus_text.h"

#include <cctype>
#include <cmath>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace ds::loadgen {
namespace {

bool IsNameStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

void SkipSpaces(absl::string_view& s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
}

absl::string_view TakeName(absl::string_view& s) {
  size_t n = 0;
  if (!s.empty() && IsNameStart(s[0])) {
    n = 1;
    while (n < s.size() && IsNameChar(s[n])) ++n;
  }
  absl::string_view name = s.substr(0, n);
  s.remove_prefix(n);
  return name;
}

bool ParseValue(absl::string_view v, double* out) {
  if (v == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (v == "+Inf" || v == "Inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (v == "-Inf") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  return absl::SimpleAtod(v, out);
}

// Parses `{a="x",b="y"}` at the front of `s` (which starts with '{').
bool ParseLabels(absl::string_view& s, std::map<std::string, std::string>* labels) {
  s.remove_prefix(1);  // '{'
  while (true) {
    SkipSpaces(s);
    if (s.empty()) return false;
    if (s.front() == '}') {
      s.remove_prefix(1);
      return true;
    }
    absl::string_view key = TakeName(s);
    if (key.empty()) return false;
    SkipSpaces(s);
    if (s.empty() || s.front() != '=') return false;
    s.remove_prefix(1);
    SkipSpaces(s);
    if (s.empty() || s.front() != '"') return false;
    s.remove_prefix(1);
    std::string value;
    bool closed = false;
    while (!s.empty()) {
      char c = s.front();
      s.remove_prefix(1);
      if (c == '"') {
        closed = true;
        break;
      }
      if (c == '\\') {
        if (s.empty()) return false;
        char e = s.front();
        s.remove_prefix(1);
        value.push_back(e == 'n' ? '\n' : e);  // \\ and \" keep the escaped char
      } else {
        value.push_back(c);
      }
    }
    if (!closed) return false;
    (*labels)[std::string(key)] = std::move(value);
    SkipSpaces(s);
    if (!s.empty() && s.front() == ',') s.remove_prefix(1);
  }
}

}  // namespace

absl::StatusOr<PrometheusSample> ParsePrometheusSample(absl::string_view line) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(why, ": '", line, "'"));
  };
  PrometheusSample sample;
  absl::string_view rest = line;
  absl::string_view name = TakeName(rest);
  if (name.empty()) return error("bad metric name");
  sample.name = std::string(name);
  SkipSpaces(rest);
  if (!rest.empty() && rest.front() == '{') {
    if (!ParseLabels(rest, &sample.labels)) return error("bad label set");
  }
  SkipSpaces(rest);
  std::vector<absl::string_view> fields =
      absl::StrSplit(rest, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (fields.empty() || fields.size() > 2) return error("expected a value and optional timestamp");
  if (!ParseValue(fields[0], &sample.value)) return error("bad value");
  return sample;
}

absl::StatusOr<MetricFamilySamples> ParsePrometheusText(absl::string_view text) {
  MetricFamilySamples out;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);  // also drops a CR of CRLF
    if (line.empty() || line.front() == '#') continue;
    absl::StatusOr<PrometheusSample> sample = ParsePrometheusSample(line);
    if (!sample.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics line ", line_no, ": ", sample.status().message()));
    }
    out.push_back(*std::move(sample));
  }
  return out;
}

double SumMetric(const MetricFamilySamples& samples, absl::string_view name,
                 const std::map<std::string, std::string>& match) {
  double sum = 0;
  for (const PrometheusSample& s : samples) {
    if (s.name != name) continue;
    bool ok = true;
    for (const auto& [k, v] : match) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) {
        ok = false;
        break;
      }
    }
    if (ok) sum += s.value;
  }
  return sum;
}

std::map<std::string, double> SumMetricByLabel(const MetricFamilySamples& samples,
                                               absl::string_view name, absl::string_view label) {
  std::map<std::string, double> out;
  for (const PrometheusSample& s : samples) {
    if (s.name != name) continue;
    auto it = s.labels.find(std::string(label));
    out[it == s.labels.end() ? std::string() : it->second] += s.value;
  }
  return out;
}

}  // namespace ds::loadgen
