// Validation of client requests, and the coalescing keys built from them.
// The rules themselves (page limit, content) are common/api_rules.h, shared
// with the gateway.
//
// Every rule names the field and the reason in an INVALID_ARGUMENT status, so
// a client can fix its request without reading our code:
//   auto st = ValidateGetMessages(req);   // "limit: must be at most 100, got 500"
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/api_rules.h"
#include "dataservice/server/wire.pb.h"
#include "dataservice/v1/messages.pb.h"
#include "messages/messages.pb.h"

namespace ds::node {

absl::Status ValidateGetMessages(const dataservice::v1::GetMessagesRequest& req);
absl::Status ValidateGetMessage(const dataservice::v1::GetMessageRequest& req);
// The node parses sends as the wire-compatible SendMessageRequestWire
// (content as bytes), so malformed UTF-8 is reported here, naming `content`.
absl::Status ValidateSendMessage(const dataservice::server::SendMessageRequestWire& req,
                                 size_t max_content_bytes = api::kMaxContentBytes);
absl::Status ValidateSendMessage(const dataservice::v1::SendMessageRequest& req,
                                 size_t max_content_bytes = api::kMaxContentBytes);
absl::Status ValidateReferenceGetMessage(const messages::MessageRequest& req);

// The limit a valid request means (0 → api::kDefaultPageLimit).
uint32_t EffectiveLimit(const dataservice::v1::GetMessagesRequest& req);

// Coalescing keys: the method plus every field that changes the result
// (docs/design.md, coalescing contract point 1). Different methods never share a key, even for the
// same message, because their responses are encoded differently.
std::string GetMessagesKey(const dataservice::v1::GetMessagesRequest& req);
std::string GetMessageKey(uint64_t channel_id, uint64_t message_id);
std::string ReferenceGetMessageKey(uint64_t channel_id, uint64_t message_id);

}  // namespace ds::node
