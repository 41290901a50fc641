#include "tools/loadgen/workload.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace ds::loadgen {

absl::StatusOr<KeySampler> KeySampler::Create(const Options& o) {
  if (o.channels < 1) return absl::InvalidArgumentError("channels must be >= 1");
  if (o.distribution == KeyDistribution::kZipf && !(o.zipf_s > 0)) {
    return absl::InvalidArgumentError("zipf s must be > 0");
  }
  if (o.distribution == KeyDistribution::kHot) {
    if (o.hot_channel < 1 || o.hot_channel > o.channels) {
      return absl::InvalidArgumentError("hot channel must be within [1, channels]");
    }
    if (!(o.hot_fraction >= 0 && o.hot_fraction <= 1)) {
      return absl::InvalidArgumentError("hot fraction must be within [0, 1]");
    }
  }
  return KeySampler(o);
}

KeySampler::KeySampler(const Options& options) : options_(options), rng_(options.seed) {
  if (options_.distribution == KeyDistribution::kZipf) {
    zipf_cdf_.resize(static_cast<size_t>(options_.channels));
    double total = 0;
    for (int64_t k = 1; k <= options_.channels; ++k) {
      total += 1.0 / std::pow(static_cast<double>(k), options_.zipf_s);
      zipf_cdf_[k - 1] = total;
    }
    for (double& c : zipf_cdf_) c /= total;
    zipf_cdf_.back() = 1.0;  // guard against rounding leaving the last bucket short
  }
}

double KeySampler::NextUnit() { return static_cast<double>(rng_() >> 11) * 0x1.0p-53; }

uint64_t KeySampler::Next(uint64_t index) {
  const auto channels = static_cast<uint64_t>(options_.channels);
  auto uniform = [&] {
    return std::min<uint64_t>(static_cast<uint64_t>(NextUnit() * channels), channels - 1) + 1;
  };
  switch (options_.distribution) {
    case KeyDistribution::kRoundRobin:
      return index % channels + 1;
    case KeyDistribution::kUniform:
      return uniform();
    case KeyDistribution::kZipf: {
      const double u = NextUnit();
      auto it = std::upper_bound(zipf_cdf_.begin(), zipf_cdf_.end(), u);
      if (it == zipf_cdf_.end()) --it;
      return static_cast<uint64_t>(it - zipf_cdf_.begin()) + 1;
    }
    case KeyDistribution::kHot:
      if (NextUnit() < options_.hot_fraction) return static_cast<uint64_t>(options_.hot_channel);
      return uniform();
  }
  return 1;
}

absl::StatusOr<Workload> Workload::Create(WorkloadOptions options) {
  if (!(options.write_ratio >= 0 && options.write_ratio <= 1)) {
    return absl::InvalidArgumentError("write ratio must be within [0, 1]");
  }
  absl::StatusOr<KeySampler> sampler = KeySampler::Create(options.keys);
  if (!sampler.ok()) return sampler.status();
  return Workload(std::move(options), *std::move(sampler));
}

Workload::Workload(WorkloadOptions options, KeySampler sampler)
    : options_(std::move(options)), sampler_(std::move(sampler)) {}

RequestSpec Workload::Next() {
  const uint64_t index = next_index_++;
  RequestSpec r;
  r.channel_id = sampler_.Next(index);
  // Draw the read/write coin only when there are writes, so that a read-only
  // run's key sequence does not depend on the write ratio's code path.
  const bool write = options_.write_ratio > 0 && sampler_.NextUnit() < options_.write_ratio;
  if (write) {
    r.kind = RequestKind::kSendMessage;
    r.nonce = options_.nonce_base + index;
    if (r.nonce == 0) r.nonce = 1;  // 0 is not a valid nonce
    r.author_id = 1 + index % 1000;
    r.content = absl::StrCat("ds-loadgen message ", index);
  } else if (options_.read_method == ReadMethod::kMessage) {
    r.kind = RequestKind::kGetMessage;
    const size_t slot = r.channel_id - 1;
    r.message_id = slot < options_.message_ids.size() && options_.message_ids[slot] != 0
                       ? options_.message_ids[slot]
                       : r.channel_id * 1000;
  } else {
    r.kind = RequestKind::kGetMessages;
    r.limit = options_.limit;
  }
  return r;
}

}  // namespace ds::loadgen
