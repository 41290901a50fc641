#include "routing/membership.h"

#include <cstdlib>
#include <fstream>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/api_rules.h"

namespace ds::routing {
namespace {

std::vector<std::string> Subset(const std::vector<std::string>& nodes,
                                const std::vector<int>& ids) {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (int id : ids) out.push_back(nodes[id]);
  return out;
}

std::vector<int> LiveIds(const std::vector<bool>& healthy) {
  std::vector<int> ids;
  for (int i = 0; i < static_cast<int>(healthy.size()); ++i) {
    if (healthy[i]) ids.push_back(i);
  }
  return ids;
}

absl::Status CheckDuplicates(const std::vector<std::string>& nodes) {
  std::set<std::string> seen;
  for (const std::string& n : nodes) {
    if (!seen.insert(n).second) {
      return absl::InvalidArgumentError(absl::StrCat("duplicate node address \"", n, "\""));
    }
  }
  if (nodes.empty()) return absl::InvalidArgumentError("the node list is empty");
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateAddress(std::string_view address) {
  return api::ParseHostPort("node address", address, api::PortZero::kRejected).status();
}

absl::StatusOr<std::vector<std::string>> ParseNodeList(std::string_view list) {
  std::vector<std::string> nodes;
  const absl::string_view text(list.data(), list.size());
  for (absl::string_view part :
       absl::StrSplit(text, absl::ByAnyChar(", \t\r\n"), absl::SkipEmpty())) {
    if (absl::Status s = ValidateAddress(std::string_view(part.data(), part.size())); !s.ok()) {
      return s;
    }
    nodes.emplace_back(part);
  }
  if (absl::Status s = CheckDuplicates(nodes); !s.ok()) return s;
  return nodes;
}

absl::StatusOr<std::vector<std::string>> ReadNodesFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open node file \"", path, "\""));
  std::vector<std::string> nodes;
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    absl::string_view text = line;
    if (size_t hash = text.find('#'); hash != absl::string_view::npos) text = text.substr(0, hash);
    text = absl::StripAsciiWhitespace(text);
    if (text.empty()) continue;
    if (absl::Status s = ValidateAddress(std::string_view(text.data(), text.size())); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": ", s.message()));
    }
    nodes.emplace_back(text);
  }
  if (absl::Status s = CheckDuplicates(nodes); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
  }
  return nodes;
}

absl::StatusOr<std::vector<std::string>> ResolveNodes(std::string_view flag_list,
                                                      std::string_view flag_file,
                                                      std::optional<std::string> env_value) {
  if (!absl::StripAsciiWhitespace(absl::string_view(flag_list.data(), flag_list.size())).empty()) {
    return ParseNodeList(flag_list);
  }
  if (!flag_file.empty()) return ReadNodesFile(std::string(flag_file));
  if (!env_value.has_value()) {
    // getenv is read once, at configuration time, before threads start.
    if (const char* env = std::getenv(kNodesEnvVar); env != nullptr) env_value = env;
  }
  if (env_value.has_value() && !absl::StripAsciiWhitespace(*env_value).empty()) {
    return ParseNodeList(*env_value);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("no data-service nodes: give a node list, a node file, or set ", kNodesEnvVar));
}

RingSnapshot::RingSnapshot(std::shared_ptr<const std::vector<std::string>> nodes,
                           std::vector<bool> healthy, uint64_t version)
    : nodes_(std::move(nodes)),
      healthy_(std::move(healthy)),
      version_(version),
      live_ids_(LiveIds(healthy_)),
      live_ring_(Subset(*nodes_, live_ids_)),
      all_ring_(*nodes_) {}

std::vector<int> RingSnapshot::HashOrder(uint64_t channel_id, int k) const {
  if (live_ids_.empty()) return all_ring_.Preference(channel_id, k < 0 ? all_ring_.size() : k);
  std::vector<int> order = live_ring_.Preference(channel_id, k < 0 ? live_ring_.size() : k);
  for (int& i : order) i = live_ids_[i];
  return order;
}

std::vector<int> RingSnapshot::RotationOrder(uint64_t start) const {
  std::vector<int> ids = live_ids_;
  if (ids.empty()) {
    for (int i = 0; i < static_cast<int>(nodes_->size()); ++i) ids.push_back(i);
  }
  std::vector<int> order;
  order.reserve(ids.size());
  const size_t first = ids.empty() ? 0 : start % ids.size();
  for (size_t i = 0; i < ids.size(); ++i) order.push_back(ids[(first + i) % ids.size()]);
  return order;
}

int RingSnapshot::LiveOwner(uint64_t channel_id) const {
  const int i = live_ring_.Pick(channel_id);
  return i < 0 ? -1 : live_ids_[i];
}

Membership::Membership(std::vector<std::string> nodes)
    : nodes_(std::make_shared<const std::vector<std::string>>(std::move(nodes))),
      healthy_(nodes_->size(), true),
      ejected_(nodes_->size(), false),
      snapshot_(std::make_shared<const RingSnapshot>(nodes_, healthy_, 0)) {}

std::shared_ptr<const RingSnapshot> Membership::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

bool Membership::SetHealthy(int id, bool healthy) {
  std::lock_guard<std::mutex> write_lock(write_mu_);
  if (id < 0 || id >= size() || healthy_[id] == healthy) return false;
  healthy_[id] = healthy;
  return SwapLocked();
}

bool Membership::SetEjected(int id, bool ejected) {
  std::lock_guard<std::mutex> write_lock(write_mu_);
  if (id < 0 || id >= size() || ejected_[id] == ejected) return false;
  ejected_[id] = ejected;
  return SwapLocked();
}

bool Membership::SwapLocked() {
  std::vector<bool> live(healthy_.size());
  for (size_t i = 0; i < live.size(); ++i) live[i] = healthy_[i] && !ejected_[i];
  std::shared_ptr<const RingSnapshot> current = Snapshot();
  bool changed = false;
  for (size_t i = 0; i < live.size(); ++i) {
    changed |= live[i] != current->healthy(static_cast<int>(i));
  }
  if (!changed) return false;
  // Built outside `mu_`: readers keep using the old snapshot meanwhile.
  auto next = std::make_shared<const RingSnapshot>(nodes_, std::move(live), current->version() + 1);
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(next);
  return true;
}

}  // namespace ds::routing
