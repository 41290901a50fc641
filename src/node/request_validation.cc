#include "node/request_validation.h"

#include "absl/strings/str_cat.h"

namespace ds::node {

namespace {
absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(field + ": " + why);
}
}  // namespace

absl::Status ValidateGetMessages(const dataservice::v1::GetMessagesRequest& req) {
  if (req.channel_id() == 0) return Invalid("channel_id", "required (a non-zero snowflake)");
  if (absl::Status st = api::CheckPageLimit(req.limit()); !st.ok()) return st;
  if (req.has_before() && req.has_after()) {
    return Invalid("before", "cannot be combined with after; page in one direction");
  }
  if (req.has_before() && req.before() == 0) return Invalid("before", "must be a non-zero id");
  return absl::OkStatus();
}

absl::Status ValidateGetMessage(const dataservice::v1::GetMessageRequest& req) {
  if (req.channel_id() == 0) return Invalid("channel_id", "required (a non-zero snowflake)");
  if (req.message_id() == 0) return Invalid("message_id", "required (a non-zero snowflake)");
  return absl::OkStatus();
}

namespace {
absl::Status ValidateSend(uint64_t channel_id, uint64_t author_id, std::string_view content,
                          uint64_t nonce, size_t max_content_bytes) {
  if (channel_id == 0) return Invalid("channel_id", "required (a non-zero snowflake)");
  if (author_id == 0) return Invalid("author_id", "required (a non-zero snowflake)");
  if (nonce == 0) return Invalid("nonce", "required: a non-zero client-chosen idempotency key");
  return api::CheckContent(content, max_content_bytes);
}
}  // namespace

absl::Status ValidateSendMessage(const dataservice::server::SendMessageRequestWire& req,
                                 size_t max_content_bytes) {
  return ValidateSend(req.channel_id(), req.author_id(), req.content(), req.nonce(),
                      max_content_bytes);
}

absl::Status ValidateSendMessage(const dataservice::v1::SendMessageRequest& req,
                                 size_t max_content_bytes) {
  return ValidateSend(req.channel_id(), req.author_id(), req.content(), req.nonce(),
                      max_content_bytes);
}

absl::Status ValidateReferenceGetMessage(const messages::MessageRequest& req) {
  if (req.channel_id() <= 0) return Invalid("channel_id", "required (a positive id)");
  if (req.message_id() <= 0) return Invalid("message_id", "required (a positive id)");
  return absl::OkStatus();
}

uint32_t EffectiveLimit(const dataservice::v1::GetMessagesRequest& req) {
  return api::EffectivePageLimit(req.limit());
}

std::string GetMessagesKey(const dataservice::v1::GetMessagesRequest& req) {
  return absl::StrCat("v1.GetMessages|", req.channel_id(), "|", EffectiveLimit(req), "|",
                      req.has_before() ? absl::StrCat("b", req.before()) : "",
                      req.has_after() ? absl::StrCat("a", req.after()) : "");
}

std::string GetMessageKey(uint64_t channel_id, uint64_t message_id) {
  return absl::StrCat("v1.GetMessage|", channel_id, "|", message_id);
}

std::string ReferenceGetMessageKey(uint64_t channel_id, uint64_t message_id) {
  return absl::StrCat("ref.getMessage|", channel_id, "|", message_id);
}

}  // namespace ds::node
