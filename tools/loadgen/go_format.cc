#include "tools/loadgen/go_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace ds::loadgen {

std::string GoLogPrefix(absl::Time t, absl::TimeZone tz) {
  return absl::FormatTime("%Y/%m/%d %H:%M:%S ", t, tz);
}

namespace {

// Writes the fraction of v / 10^prec (digits after the point, trailing zeros
// dropped, no point when the fraction is 0) in front of buf[w], like Go's
// fmtFrac; returns the new write position and leaves v / 10^prec in *v.
int FmtFrac(char* buf, int w, uint64_t* v, int prec) {
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    int digit = static_cast<int>(*v % 10);
    print = print || digit != 0;
    if (print) buf[--w] = static_cast<char>('0' + digit);
    *v /= 10;
  }
  if (print) buf[--w] = '.';
  return w;
}

int FmtInt(char* buf, int w, uint64_t v) {
  if (v == 0) {
    buf[--w] = '0';
    return w;
  }
  while (v > 0) {
    buf[--w] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return w;
}

}  // namespace

std::string GoDurationString(absl::Duration d) {
  // Go's Duration is an int64 count of nanoseconds.
  const int64_t ns = absl::ToInt64Nanoseconds(d);
  if (ns == 0) return "0s";
  char buf[32];
  int w = sizeof(buf);
  const bool neg = ns < 0;
  uint64_t u = neg ? uint64_t{0} - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  if (u < 1000000000ull) {
    int prec = 0;
    std::string unit;
    if (u < 1000ull) {
      unit = "ns";
    } else if (u < 1000000ull) {
      prec = 3;
      unit = "\xC2\xB5s";  // U+00B5 MICRO SIGN, as Go prints it
    } else {
      prec = 6;
      unit = "ms";
    }
    w = FmtFrac(buf, w, &u, prec);
    w = FmtInt(buf, w, u);
    std::string out = std::string(neg ? "-" : "") + std::string(buf + w, sizeof(buf) - w);
    return out + unit;
  }
  buf[--w] = 's';
  w = FmtFrac(buf, w, &u, 9);
  w = FmtInt(buf, w, u % 60);  // u is now whole seconds
  u /= 60;
  if (u > 0) {
    buf[--w] = 'm';
    w = FmtInt(buf, w, u % 60);
    u /= 60;
    if (u > 0) {
      buf[--w] = 'h';
      w = FmtInt(buf, w, u);
    }
  }
  if (neg) buf[--w] = '-';
  return std::string(buf + w, sizeof(buf) - w);
}

std::string GoFormatFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[400];  // the longest fixed-notation double is ~330 characters
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  if (ec != std::errc()) return "NaN";  // unreachable with a 400-byte buffer
  return std::string(buf, end);
}

}  // namespace ds::loadgen
