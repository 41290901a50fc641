// UTF-8 validation for user-supplied text.
#pragma once

#include <string_view>

namespace ds {

// True when `s` is well-formed UTF-8 (RFC 3629): no overlong forms, no
// surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequence.
bool IsValidUtf8(std::string_view s);

}  // namespace ds
