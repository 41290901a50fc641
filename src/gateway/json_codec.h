// JSON encoding and decoding for the gateway's HTTP API, and the mapping from
// gRPC status codes to HTTP statuses. Pure functions: no I/O, no state.
//
// Ids (channel, message, author, nonce) are 64-bit snowflakes, beyond the
// 2^53 integers a JavaScript number holds exactly, so responses always carry
// them as decimal JSON strings. Requests may send either a decimal string or a
// non-negative JSON integer.
//
// Usage:
//   absl::StatusOr<uint64_t> channel = ds::api::ParseId("channel_id", "42");  // common/api_rules.h
//   absl::StatusOr<dataservice::v1::SendMessageRequest> req =
//       ds::gateway::ParseSendMessageBody(*channel,
//       R"({"author_id":"7","content":"hi","nonce":1})");
//   std::string body = ds::gateway::EncodeGetMessagesResponse(resp);
//   std::string error = ds::gateway::EncodeError(absl::StatusCode::kNotFound, "no such message");
//
// Thread-safe: free functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "dataservice/v1/messages.pb.h"

namespace ds::gateway {

// Nesting depth allowed in a request body (the API needs 1).
inline constexpr size_t kMaxJsonDepth = 8;

// Decodes the body of POST /v1/channels/{channel_id}/messages:
//   {"author_id": id, "content": string, "nonce": id}
// where each id is a decimal string or a JSON integer, non-zero. Unknown fields
// are ignored. INVALID_ARGUMENT (naming the field and why) for malformed JSON,
// a non-object, a missing field, a wrong type, a zero or out-of-range id, or
// content that breaks api::CheckContent (empty, over api::kMaxContentBytes).
absl::StatusOr<dataservice::v1::SendMessageRequest> ParseSendMessageBody(uint64_t channel_id,
                                                                         std::string_view body);

// {"channel_id":"..","message_id":"..","author_id":"..","content":"..","created_at_ms":N}
std::string EncodeMessage(const dataservice::v1::Message& message);
// {"messages":[<message>...]}
std::string EncodeGetMessagesResponse(const dataservice::v1::GetMessagesResponse& response);
// {"message":<message>}
std::string EncodeGetMessageResponse(const dataservice::v1::GetMessageResponse& response);
// {"message":<message>,"duplicate":bool}
std::string EncodeSendMessageResponse(const dataservice::v1::SendMessageResponse& response);
// {"error":{"code":"NOT_FOUND","message":"..."}}; `code` is the canonical gRPC
// code name.
std::string EncodeError(absl::StatusCode code, std::string_view message);

// The HTTP status for a gRPC status code: OK 200, INVALID_ARGUMENT /
// FAILED_PRECONDITION / OUT_OF_RANGE 400, UNAUTHENTICATED 401,
// PERMISSION_DENIED 403, NOT_FOUND 404, ALREADY_EXISTS / ABORTED 409,
// RESOURCE_EXHAUSTED 429, CANCELLED 499, UNIMPLEMENTED 501, UNAVAILABLE 503,
// DEADLINE_EXCEEDED 504, anything else 500.
int HttpStatusForCode(absl::StatusCode code);

}  // namespace ds::gateway
