// Target: where ds-loadgen sends its requests — data-service nodes through
// the routing library, the HTTP gateway, or the reference API — behind one
// asynchronous interface, so the runner's modes work the same for every one.
//
// Usage:
//   std::unique_ptr<Target> t = ...;   // MakeReferenceTarget, MakeGatewayTarget, ...
//   t->Issue(spec, absl::Now() + absl::Seconds(10), [](Outcome o) { ... });
//
// Threading: Issue() is called from one thread at a time (the runner's
// dispatcher) and must not block on the network; `done` runs exactly once per
// Issue(), on a transport thread (or inline when the request fails at once),
// and must not block either.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tools/loadgen/workload.h"

namespace ds::loadgen {

struct Outcome {
  bool ok = false;
  // "OK", a gRPC status code name ("UNAVAILABLE", "DEADLINE_EXCEEDED", ...)
  // or "HTTP_<status>" for a gateway answer outside 2xx.
  std::string code = "OK";
  std::string message;  // error detail, empty when ok
  // The newest message id in a GetMessages answer (0 if none); used to learn
  // real message ids before a GetMessage run.
  uint64_t newest_message_id = 0;
  // Unix microseconds when the node received the request, from its trailing
  // metadata `x-ds-arrived-us` (0 when the target does not report it).
  int64_t node_arrived_us = 0;
};

class Target {
 public:
  virtual ~Target() = default;

  // Waits (up to `timeout`) until the target can take requests — e.g. until
  // the routing client sees a healthy node. Default: ready at once.
  virtual absl::Status WaitReady(absl::Duration timeout) { return absl::OkStatus(); }

  // Sends one request; see the class comment for threading.
  virtual void Issue(const RequestSpec& request, absl::Time deadline,
                     std::function<void(Outcome)> done) = 0;

  // The name used in reports ("nodes", "gateway", "reference").
  virtual std::string Name() const = 0;
};

// The gRPC code name, e.g. 4 → "DEADLINE_EXCEEDED"; "CODE_<n>" if unknown.
std::string GrpcCodeName(int code);

}  // namespace ds::loadgen
