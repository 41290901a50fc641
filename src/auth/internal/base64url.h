// Internal to ds_auth: base64url (RFC 4648 §5) without padding, as JOSE uses
// it (RFC 7515 §2). Decoding is strict: only the URL-safe alphabet, no
// padding, no whitespace, and no non-zero bits left over in the last symbol.
//
// Thread-safe (pure functions).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ds::auth::internal {

std::string Base64UrlEncode(std::string_view bytes);
// nullopt when `text` is not canonical unpadded base64url.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace ds::auth::internal
