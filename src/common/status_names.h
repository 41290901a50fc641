// Names of status codes, for logs and metric labels. gRPC numbers its codes
// as Abseil does, so a grpc::StatusCode converts with a static_cast.
//
// Usage:
//   StatusCodeName(absl::StatusCode::kUnavailable)            // "UNAVAILABLE"
//   StatusCodeLabel(code, {absl::StatusCode::kUnavailable})   // that, or "OTHER"
#pragma once

#include <initializer_list>
#include <string>

#include "absl/status/status.h"

namespace ds {

// The canonical name ("DEADLINE_EXCEEDED"); "UNKNOWN" for a number that is no
// code.
std::string StatusCodeName(absl::StatusCode code);

// A metric label of bounded cardinality: the name of `code` if it is one of
// `named`, else "OTHER".
std::string StatusCodeLabel(absl::StatusCode code, std::initializer_list<absl::StatusCode> named);

}  // namespace ds
