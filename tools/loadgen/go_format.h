// Formatting that reproduces, character for character, what the reference
// Go client prints, so scripts written against its output keep working:
//   2024/10/26 17:08:11 Average queries per request: 0.0184
//   2024/10/26 17:08:11 Total time taken: 816.727364ms
//
// Usage:
//   std::string line = GoLogPrefix(absl::Now(), absl::LocalTimeZone()) +
//                      "Total time taken: " + GoDurationString(elapsed);
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "absl/time/time.h"

namespace ds::loadgen {

// Go's log.LstdFlags prefix: "2006/01/02 15:04:05 " (with the trailing space).
std::string GoLogPrefix(absl::Time t, absl::TimeZone tz);

// Go's time.Duration.String(): "0s", "999ns", "1.5µs", "816.727364ms",
// "1.234s", "1m30s", "2h0m0s"; fractions without trailing zeros; negative
// durations get a leading '-'. Sub-nanosecond parts are truncated.
std::string GoDurationString(absl::Duration d);

// Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest decimal, without an
// exponent, that reads back as exactly `v` ("0.0184", "1", "0.3333333333333333");
// "NaN", "+Inf", "-Inf" for the special values.
std::string GoFormatFloat(double v);

}  // namespace ds::loadgen
