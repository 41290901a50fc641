#include "routing/internal/health_wire.h"

#include <cstdint>

#include "absl/status/status.h"

namespace ds::routing::internal {
namespace {

void PutVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Reads a varint at `*pos`; false if truncated or longer than 10 bytes.
bool GetVarint(std::string_view in, size_t* pos, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*pos >= in.size()) return false;
    const uint8_t b = static_cast<uint8_t>(in[(*pos)++]);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

std::string EncodeHealthCheckRequest(std::string_view service) {
  std::string out;
  if (service.empty()) return out;  // proto3: a default field is not sent
  out.push_back(0x0a);              // field 1, wire type 2 (length-delimited)
  PutVarint(service.size(), &out);
  out.append(service);
  return out;
}

absl::StatusOr<ServingStatus> DecodeHealthCheckResponse(std::string_view bytes) {
  ServingStatus status = ServingStatus::kUnknown;
  size_t pos = 0;
  while (pos < bytes.size()) {
    uint64_t key = 0;
    if (!GetVarint(bytes, &pos, &key)) return absl::InvalidArgumentError("truncated field key");
    const uint64_t field = key >> 3;
    const int wire_type = static_cast<int>(key & 7);
    uint64_t value = 0;
    switch (wire_type) {
      case 0:  // varint
        if (!GetVarint(bytes, &pos, &value)) return absl::InvalidArgumentError("truncated varint");
        if (field == 1) {
          status = value <= 3 ? static_cast<ServingStatus>(value) : ServingStatus::kUnknown;
        }
        break;
      case 1:  // 64-bit
        if (bytes.size() - pos < 8) return absl::InvalidArgumentError("truncated fixed64");
        pos += 8;
        break;
      case 2:  // length-delimited
        if (!GetVarint(bytes, &pos, &value) || bytes.size() - pos < value) {
          return absl::InvalidArgumentError("truncated length-delimited field");
        }
        pos += value;
        break;
      case 5:  // 32-bit
        if (bytes.size() - pos < 4) return absl::InvalidArgumentError("truncated fixed32");
        pos += 4;
        break;
      default:
        return absl::InvalidArgumentError("unsupported wire type");
    }
  }
  return status;
}

}  // namespace ds::routing::internal
