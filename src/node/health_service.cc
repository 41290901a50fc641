#include "node/health_service.h"

#include <grpc/slice.h>
#include <grpcpp/impl/rpc_service_method.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <algorithm>
#include <utility>

#include "dataservice/server/wire.pb.h"

namespace ds::node {

namespace {
constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";
constexpr int kServing = 1;
constexpr int kNotServing = 2;
}  // namespace

// The service with its one method registered by name, as generated code
// would (there is no generated grpc.health.v1 code in this build).
class HealthService::RawService final : public grpc::Service {
 public:
  RawService() {
    AddMethod(new grpc::internal::RpcServiceMethod(kCheckMethod,
                                                   grpc::internal::RpcMethod::NORMAL_RPC, nullptr));
    MarkMethodRaw(0);
  }
  void RequestCheck(grpc::ServerContext* ctx, grpc::ByteBuffer* request,
                    grpc::ServerAsyncResponseWriter<grpc::ByteBuffer>* writer,
                    grpc::ServerCompletionQueue* cq, void* tag) {
    RequestAsyncUnary(0, ctx, request, writer, cq, cq, tag);
  }
};

HealthService::HealthService(std::vector<std::string> service_names)
    : names_(std::move(service_names)), service_(std::make_unique<RawService>()) {}

HealthService::~HealthService() = default;

grpc::Service* HealthService::service() { return service_.get(); }

void HealthService::AddMethods(CqServer* server) {
  RawService* raw = service_.get();
  server->AddMethod([raw](auto* ctx, auto* req, auto* w, auto* cq,
                          void* tag) { raw->RequestCheck(ctx, req, w, cq, tag); },
                    [this](UnaryCall* call) { Check(call); });
}

void HealthService::Check(UnaryCall* call) {
  dataservice::server::HealthCheckRequestWire req;
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(&call->request()));
  if (!req.ParseFromZeroCopyStream(&reader)) {
    call->FinishWithError(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                       "request: not a valid HealthCheckRequest"));
    return;
  }
  if (!req.service().empty() &&
      std::find(names_.begin(), names_.end(), req.service()) == names_.end()) {
    call->FinishWithError(grpc::Status(grpc::StatusCode::NOT_FOUND, "service name unknown"));
    return;
  }
  dataservice::server::HealthCheckResponseWire resp;
  resp.set_status(serving() ? kServing : kNotServing);
  const std::string bytes = resp.SerializeAsString();
  grpc::Slice slice(bytes);
  call->Finish(grpc::ByteBuffer(&slice, 1), grpc::Status::OK);
}

}  // namespace ds::node
