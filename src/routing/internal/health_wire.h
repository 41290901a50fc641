// The two grpc.health.v1 messages on the wire, encoded by hand.
//
// HealthChecker calls grpc.health.v1.Health/Check through grpc::GenericStub
// with these bytes instead of generated code: Debian ships no health.proto,
// and generating the grpc.health.v1 types here would make any binary that
// also links another copy of them abort at start-up (duplicate descriptor
// registration). The messages are tiny and frozen:
//   message HealthCheckRequest  { string service = 1; }
//   message HealthCheckResponse { ServingStatus status = 1; }   // enum, varint
//   enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2; SERVICE_UNKNOWN = 3; }
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ds::routing::internal {

inline constexpr char kHealthCheckMethod[] = "/grpc.health.v1.Health/Check";

enum class ServingStatus { kUnknown = 0, kServing = 1, kNotServing = 2, kServiceUnknown = 3 };

// The serialized HealthCheckRequest for `service` ("" = the whole server).
std::string EncodeHealthCheckRequest(std::string_view service);

// The status field of a serialized HealthCheckResponse (kUnknown when absent;
// unknown fields are skipped). INVALID_ARGUMENT for malformed bytes.
absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(std::string_view bytes);

}  // namespace ds::routing::internal
