#include "http/response.h"

#include <boost/beast/http/status.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace ds::http {
namespace {

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

Response& Response::AddHeader(std::string_view name, std::string_view value) {
  if (name.empty() || HasLineBreak(name) || HasLineBreak(value)) return *this;
  dynamic_headers_.append(name).append(": ").append(value).append("\r\n");
  return *this;
}

std::optional<std::string_view> Response::header(std::string_view name) const {
  for (const auto& [n, v] : static_headers_) {
    if (absl::EqualsIgnoreCase(ToAbsl(n), ToAbsl(name))) return v;
  }
  std::string_view rest = dynamic_headers_;
  while (!rest.empty()) {
    const size_t eol = rest.find("\r\n");
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 2);
    const size_t colon = line.find(':');
    if (absl::EqualsIgnoreCase(ToAbsl(line.substr(0, colon)), ToAbsl(name))) {
      return line.substr(colon + 2);
    }
  }
  return std::nullopt;
}

void Response::AppendHeaders(std::string& out) const {
  for (const auto& [name, value] : static_headers_) {
    out.append(name).append(": ").append(value).append("\r\n");
  }
  out.append(dynamic_headers_);
}

std::string_view ReasonPhrase(int status) {
  const boost::beast::string_view reason =
      boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  if (status == 499) return "Client Closed Request";
  return std::string_view(reason.data(), reason.size());
}

}  // namespace ds::http
