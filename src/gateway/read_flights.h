// ReadFlights: the gateway's own coalescing level. Identical reads in flight
// at one gateway share one upstream call to the node and one JSON body,
// encoded once; the node coalesces again across gateways.
//
// It is ds::coalescer::Coalescer with the whole contract (coalescer.h) kept at
// this level: the key is the method plus every field that changes the answer;
// each caller has its own deadline and may leave (deadline, client gone)
// without affecting the others; errors fan out truthfully and are never
// cached; caps answer RESOURCE_EXHAUSTED at once; the upstream call's deadline
// follows the latest waiting caller's (capped); read-your-writes holds for
// writes through this gateway (OnWriteAcknowledged) and, through consistency
// tokens, for writes through any other gateway:
//
//   A write's answer carries its message id as a token; a later read presents
//   it. The first time this gateway sees a (channel, token) pair it fences the
//   channel (no read joins a flight that started before), and the flight that
//   read then starts passes the token on to the node, which does the same.
//   So the read never joins a flight — here or at the node — that started
//   before the token was first seen here.
//
// Usage (the API handler, per GET):
//   auto ticket = reads.GetMessages(req, deadline, token,
//       [](const ReadResult& r, const coalescer::WaitInfo& w) { ...answer... });
//   if (!ticket.ok()) ...429...
//   on the caller's deadline or disconnect: if (reads.Leave(*ticket)) ...504 / nothing...
//
// Threads: thread-safe. `done` runs on a gRPC callback thread (or inline in
// the call, when the backend answers inline) and must not block. The
// destructor waits until every flight has ended (each is bounded by its
// deadline), so `backend` and `probe` must outlive this object.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "coalescer/coalescer.h"
#include "coalescer/consistency_tokens.h"
#include "coalescer/timer.h"
#include "dataservice/v1/messages.pb.h"
#include "gateway/gateway_probe.h"
#include "gateway/message_backend.h"

namespace ds::gateway {

struct ReadFlightsOptions {
  bool coalescing = true;  // false: every request makes its own upstream call
  size_t max_waiters_per_flight = 20'000;
  size_t max_total_waiters = 100'000;
  size_t max_concurrent_upstream = 4'096;  // flights with an upstream call running
  absl::Duration max_upstream_timeout = absl::Seconds(5);
  size_t max_tokens = 65'536;  // consistency tokens remembered
};

// What one flight produces: the JSON body (encoded once, shared by every
// waiter), the node that answered, and whether it answered the flight's call
// from a flight of its own (x-ds-coalesced: joiner).
struct EncodedRead {
  std::shared_ptr<const std::string> body;
  std::string node;
  bool node_joined = false;
};
using ReadResult = absl::StatusOr<std::shared_ptr<const EncodedRead>>;

class ReadFlights {
 public:
  using Flights = coalescer::Coalescer<std::shared_ptr<const EncodedRead>>;
  using Ticket = Flights::Ticket;
  // `info.role`: kJoiner when this caller joined a flight here.
  using Done = Flights::Done;  // void(const ReadResult&, const coalescer::WaitInfo& info)

  ReadFlights(ReadFlightsOptions options, std::shared_ptr<MessageBackend> backend,
              GatewayProbe* probe);
  ~ReadFlights();
  ReadFlights(const ReadFlights&) = delete;
  ReadFlights& operator=(const ReadFlights&) = delete;

  // Joins the flight for this request or starts one. `token` is the
  // consistency token the caller presented (0: none). RESOURCE_EXHAUSTED at
  // once when a cap is reached.
  absl::StatusOr<Ticket> GetMessages(const dataservice::v1::GetMessagesRequest& req,
                                     absl::Time deadline, uint64_t token, Done done);
  absl::StatusOr<Ticket> GetMessage(const dataservice::v1::GetMessageRequest& req,
                                    absl::Time deadline, uint64_t token, Done done);

  // The caller gives up; true if its `done` will never run.
  bool Leave(const Ticket& ticket) { return flights_.Leave(ticket); }

  // A write to `channel_id` that passed through this gateway was acknowledged
  // with `message_id`; call before answering the writer.
  void OnWriteAcknowledged(uint64_t channel_id, uint64_t message_id);

  size_t live_flights() const { return flights_.live_flights(); }

 private:
  struct Spec;  // what a flight's upstream call asks (read_flights.cc)
  absl::StatusOr<Ticket> Join(const Spec& spec, absl::Time deadline, uint64_t token, Done done);
  void Fetch(const Spec& spec, uint64_t token, absl::Time deadline,
             std::function<void(Flights::Result)> fetched);

  const std::shared_ptr<MessageBackend> backend_;
  GatewayProbe* const probe_;
  coalescer::ConsistencyTokens tokens_;
  coalescer::ThreadTimer timer_;  // retry backoffs; outlives flights_
  Flights flights_;
};

}  // namespace ds::gateway
