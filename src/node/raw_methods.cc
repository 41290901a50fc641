#include "node/raw_methods.h"

#include <utility>

namespace ds::node {

void AddRawMethods(CqServer* server, RawV1Service* v1, RawReferenceService* ref,
                   RawHandlers handlers) {
  server->AddMethod([v1](auto* ctx, auto* req, auto* w, auto* cq,
                         void* tag) { v1->RequestGetMessages(ctx, req, w, cq, cq, tag); },
                    std::move(handlers.get_messages));
  server->AddMethod([v1](auto* ctx, auto* req, auto* w, auto* cq,
                         void* tag) { v1->RequestGetMessage(ctx, req, w, cq, cq, tag); },
                    std::move(handlers.get_message));
  server->AddMethod([v1](auto* ctx, auto* req, auto* w, auto* cq,
                         void* tag) { v1->RequestSendMessage(ctx, req, w, cq, cq, tag); },
                    std::move(handlers.send_message));
  server->AddMethod([ref](auto* ctx, auto* req, auto* w, auto* cq,
                          void* tag) { ref->RequestgetMessage(ctx, req, w, cq, cq, tag); },
                    std::move(handlers.reference_get_message));
  server->AddMethod([ref](auto* ctx, auto* req, auto* w, auto* cq,
                          void* tag) { ref->RequestgetAndResetMetrics(ctx, req, w, cq, cq, tag); },
                    std::move(handlers.reference_get_and_reset_metrics));
}

}  // namespace ds::node
