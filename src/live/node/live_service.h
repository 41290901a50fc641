// LiveService: dataservice.v1.LiveService on gRPC's callback API, a thin
// transport over a LiveHub.
//
// Subscribe: one server-streaming call = one hub stream. Events are queued
// per call (at most `max_queued_events`; past that the hub ends the stream
// with RESOURCE_EXHAUSTED, and the receiver resubscribes from its last
// position) and written one at a time. A stream the hub ends with a status is
// finished with it after the events already queued; a client that goes away
// leaves the hub at once.
// Poke: tells the hub to read the channel's tail now.
//
// Usage:
//   LiveService service(&hub, {});
//   builder.RegisterService(&service);   // beside the MessageService
//
// Threads: gRPC callback threads and the hub's callers; never blocks. Must
// outlive the grpc::Server it is registered with.
#pragma once

#include <cstddef>

#include "dataservice/v1/live.grpc.pb.h"
#include "live/node/live_hub.h"

namespace ds::live {

struct LiveServiceOptions {
  size_t max_queued_events = 4096;
};

// Counts pokes received (metrics); may be null.
class PokeProbe {
 public:
  virtual ~PokeProbe() = default;
  virtual void OnPokeReceived() = 0;
};

class LiveService final : public dataservice::v1::LiveService::CallbackService {
 public:
  LiveService(LiveHub* hub, LiveServiceOptions options, PokeProbe* probe = nullptr)
      : hub_(hub), options_(options), probe_(probe) {}

  grpc::ServerWriteReactor<dataservice::v1::SubscribeEvent>* Subscribe(
      grpc::CallbackServerContext* ctx, const dataservice::v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* Poke(grpc::CallbackServerContext* ctx,
                                 const dataservice::v1::PokeRequest* request,
                                 dataservice::v1::PokeResponse* response) override;

 private:
  LiveHub* const hub_;
  const LiveServiceOptions options_;
  PokeProbe* const probe_;
};

}  // namespace ds::live
