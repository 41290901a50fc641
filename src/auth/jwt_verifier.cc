#include "auth/jwt_verifier.h"

#include <jwt.h>

#include <boost/json.hpp>
#include <cmath>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "auth/internal/base64url.h"
#include "auth/internal/strings.h"

namespace ds::auth {
namespace {

namespace json = boost::json;

constexpr size_t kMaxSubjectBytes = 256;
constexpr size_t kMaxChannels = 10'000;

absl::Status Refuse(std::string_view why) { return absl::UnauthenticatedError(std::string(why)); }

absl::StatusOr<json::object> DecodeSegment(std::string_view segment, std::string_view what) {
  std::optional<std::string> bytes = internal::Base64UrlDecode(segment);
  if (!bytes)
    return Refuse(absl::StrCat("malformed token: ", internal::Av(what), " is not base64url"));
  boost::system::error_code ec;
  json::value v = json::parse(*bytes, ec);
  if (ec || !v.is_object())
    return Refuse(absl::StrCat("malformed token: ", internal::Av(what), " is not JSON"));
  return std::move(v.as_object());
}

std::optional<std::string_view> StringMember(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string_view(v->as_string().data(), v->as_string().size());
}

// A NumericDate (RFC 7519 §2): nullopt when absent, error when not a number.
absl::StatusOr<std::optional<absl::Time>> TimeClaim(const json::object& claims,
                                                    std::string_view name) {
  const json::value* v = claims.if_contains(name);
  if (v == nullptr) return std::nullopt;
  double seconds = 0;
  if (v->is_int64()) {
    seconds = static_cast<double>(v->as_int64());
  } else if (v->is_uint64()) {
    seconds = static_cast<double>(v->as_uint64());
  } else if (v->is_double() && std::isfinite(v->as_double())) {
    seconds = v->as_double();
  } else {
    return Refuse(absl::StrCat("malformed token: \"", internal::Av(name), "\" is not a number"));
  }
  return absl::FromUnixSeconds(0) + absl::Seconds(seconds);
}

absl::StatusOr<JwtAlgorithm> ParseAlg(const json::object& header) {
  std::optional<std::string_view> alg = StringMember(header, "alg");
  if (!alg) return Refuse("malformed token: no \"alg\"");
  if (absl::EqualsIgnoreCase(internal::Av(*alg), "none"))
    return Refuse("unsigned token (alg none) refused");
  if (*alg == "HS256") return JwtAlgorithm::kHs256;
  if (*alg == "RS256") return JwtAlgorithm::kRs256;
  if (*alg == "ES256") return JwtAlgorithm::kEs256;
  return Refuse(absl::StrCat("unsupported alg ", internal::Av(*alg)));
}

absl::StatusOr<ChannelAccess> ParseChannels(const json::value* claim) {
  if (claim == nullptr) return ChannelAccess::All();
  if (claim->is_string() && claim->as_string() == "*") return ChannelAccess::All();
  if (!claim->is_array() || claim->as_array().size() > kMaxChannels) {
    return Refuse("malformed token: bad channels claim");
  }
  absl::flat_hash_set<uint64_t> ids;
  for (const json::value& v : claim->as_array()) {
    uint64_t id = 0;
    if (v.is_string() && v.as_string() == "*") return ChannelAccess::All();
    if (v.is_uint64()) {
      id = v.as_uint64();
    } else if (v.is_int64() && v.as_int64() > 0) {
      id = static_cast<uint64_t>(v.as_int64());
    } else if (!v.is_string() ||
               !absl::SimpleAtoi(absl::string_view(v.as_string().data(), v.as_string().size()),
                                 &id)) {
      return Refuse("malformed token: bad channels claim");
    }
    ids.insert(id);
  }
  return ChannelAccess::Only(std::move(ids));
}

absl::Status CheckAudience(const json::object& claims, const std::string& audience) {
  const json::value* aud = claims.if_contains("aud");
  if (aud != nullptr && aud->is_string() && aud->as_string() == audience) return absl::OkStatus();
  if (aud != nullptr && aud->is_array()) {
    for (const json::value& a : aud->as_array()) {
      if (a.is_string() && a.as_string() == audience) return absl::OkStatus();
    }
  }
  return Refuse("wrong audience");
}

}  // namespace

absl::StatusOr<std::shared_ptr<const JwtVerifier>> JwtVerifier::Create(JwtVerifierOptions options) {
  if (options.keys.empty()) return absl::InvalidArgumentError("JWT verifier without a key");
  if (options.leeway < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("JWT leeway must not be negative");
  }
  return std::shared_ptr<const JwtVerifier>(new JwtVerifier(std::move(options)));
}

absl::Status JwtVerifier::CheckSignature(const std::string& token, JwtAlgorithm alg,
                                         std::string_view kid) const {
  bool any_kid = false;
  for (const VerificationKey& k : options_.keys) any_kid = any_kid || !k.kid.empty();
  bool candidate = false;
  for (const VerificationKey& key : options_.keys) {
    // The key decides the algorithm: a key is never used with another one.
    if (key.alg != alg) continue;
    if (!kid.empty() && any_kid && key.kid != kid) continue;
    candidate = true;
    jwt_t* decoded = nullptr;
    const int rc = jwt_decode(&decoded, token.c_str(),
                              reinterpret_cast<const unsigned char*>(key.material.data()),
                              static_cast<int>(key.material.size()));
    // Belt and braces: libjwt verified with the algorithm the header named,
    // which must be the key's.
    const bool ok = rc == 0 && decoded != nullptr &&
                    std::string_view(jwt_alg_str(jwt_get_alg(decoded))) == AlgorithmName(alg);
    jwt_free(decoded);
    if (ok) return absl::OkStatus();
  }
  if (!candidate) {
    return Refuse(absl::StrCat("no key for alg ", internal::Av(AlgorithmName(alg)),
                               kid.empty() ? "" : absl::StrCat(" and kid ", internal::Av(kid))));
  }
  return Refuse("bad signature");
}

absl::StatusOr<Principal> JwtVerifier::Verify(std::string_view token, absl::Time now) const {
  if (token.empty()) return Refuse("empty token");
  if (token.size() > options_.max_token_bytes) return Refuse("token too large");
  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos ||
      dot1 == 0 || dot2 == dot1 + 1) {
    return Refuse("malformed token: expected three segments");
  }
  if (dot2 + 1 == token.size()) return Refuse("unsigned token (empty signature) refused");
  absl::StatusOr<json::object> header = DecodeSegment(token.substr(0, dot1), "header");
  if (!header.ok()) return header.status();
  if (header->contains("crit")) return Refuse("token with critical header extensions refused");
  absl::StatusOr<JwtAlgorithm> alg = ParseAlg(*header);
  if (!alg.ok()) return alg.status();
  absl::StatusOr<json::object> claims =
      DecodeSegment(token.substr(dot1 + 1, dot2 - dot1 - 1), "payload");
  if (!claims.ok()) return claims.status();
  const std::string kid(StringMember(*header, "kid").value_or(""));
  if (absl::Status s = CheckSignature(std::string(token), *alg, kid); !s.ok()) return s;

  // Claims, now that they are known to come from the key holder.
  absl::StatusOr<std::optional<absl::Time>> exp = TimeClaim(*claims, "exp");
  if (!exp.ok()) return exp.status();
  absl::StatusOr<std::optional<absl::Time>> nbf = TimeClaim(*claims, "nbf");
  if (!nbf.ok()) return nbf.status();
  if (!exp->has_value() && options_.require_exp) return Refuse("token without exp refused");
  if (exp->has_value() && now >= **exp + options_.leeway) return Refuse("token expired");
  if (nbf->has_value() && now + options_.leeway < **nbf) return Refuse("token not yet valid");
  if (!options_.issuer.empty() && StringMember(*claims, "iss") != options_.issuer) {
    return Refuse("wrong issuer");
  }
  if (!options_.audience.empty()) {
    if (absl::Status s = CheckAudience(*claims, options_.audience); !s.ok()) return s;
  }
  std::optional<std::string_view> sub = StringMember(*claims, "sub");
  if (!sub || sub->empty() || sub->size() > kMaxSubjectBytes) return Refuse("token without sub");
  absl::StatusOr<ChannelAccess> channels =
      ParseChannels(claims->if_contains(options_.channels_claim));
  if (!channels.ok()) return channels.status();
  Principal p;
  p.subject = std::string(*sub);
  p.channels = *std::move(channels);
  p.expires = exp->value_or(absl::InfiniteFuture());
  return p;
}

absl::StatusOr<std::string_view> BearerToken(std::string_view authorization) {
  authorization = internal::Sv(absl::StripAsciiWhitespace(internal::Av(authorization)));
  if (authorization.empty()) return Refuse("missing bearer token");
  if (authorization.size() < 7 ||
      !absl::EqualsIgnoreCase(internal::Av(authorization.substr(0, 7)), "bearer ")) {
    return Refuse("authorization scheme is not Bearer");
  }
  std::string_view token =
      internal::Sv(absl::StripLeadingAsciiWhitespace(internal::Av(authorization.substr(7))));
  if (token.empty()) return Refuse("missing bearer token");
  return token;
}

}  // namespace ds::auth
