#include "tests/integration/cassandra_fault_helpers.h"

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "testing/cassandra_hosts.h"

#ifndef DS_SOURCE_DIR
#error "DS_SOURCE_DIR must name the source tree (for scripts/cassandra)"
#endif

namespace ds::integration {

namespace v1 = ::dataservice::v1;

int RunCassandraScript(const std::string& args, const std::string& log_path) {
  std::string command = absl::StrCat(DS_SOURCE_DIR, "/scripts/cassandra ", args);
  if (!log_path.empty()) absl::StrAppend(&command, " >>", log_path, " 2>&1");
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string CassandraHostsFromEnv(const std::string& fallback) {
  return ds::testing::CassandraHostsText(fallback);
}

CassandraNode::CassandraNode(std::vector<std::string> args) : args_(std::move(args)) {}

CassandraNode::~CassandraNode() {
  if (process_ != nullptr && process_->Running()) {
    process_->Signal(SIGTERM).IgnoreError();
    process_->Wait(absl::Seconds(10)).IgnoreError();
  }
}

absl::Status CassandraNode::Start(absl::Duration timeout) {
  const char* bin_dir = std::getenv("DS_BIN_DIR");
  if (bin_dir == nullptr) return absl::FailedPreconditionError("DS_BIN_DIR is not set");
  std::vector<std::string> args = {
      "--listen",  "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",         "--backend", "cassandra",
      "--node-id", "901",         "--port-file",    dir_.File("node.port")};
  args.insert(args.end(), args_.begin(), args_.end());
  auto process =
      testing::ChildProcess::Spawn(absl::StrCat(bin_dir, "/ds-node"), args, dir_.File("node.log"));
  if (!process.ok()) return process.status();
  process_ = *std::move(process);
  auto ports = testing::WaitForPortFile(dir_.File("node.port"), timeout, process_.get());
  if (!ports.ok()) return ports.status();
  channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*ports)[0]),
                                 grpc::InsecureChannelCredentials());
  stub_ = v1::MessageService::NewStub(channel_);
  return absl::OkStatus();
}

std::string CassandraNode::LogTail() const {
  return process_ == nullptr ? "(not started)" : process_->LogTail();
}

CallRecord CassandraNode::Read(uint64_t channel, absl::Duration deadline) {
  CallRecord record;
  record.start = absl::Now();
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(record.start + deadline));
  v1::GetMessagesRequest request;
  request.set_channel_id(channel);
  request.set_limit(20);
  v1::GetMessagesResponse response;
  const grpc::Status status = stub_->GetMessages(&context, request, &response);
  record.elapsed = absl::Now() - record.start;
  record.code = status.error_code();
  record.message = status.error_message();
  if (status.ok() && response.messages_size() == 0) {
    // The channels read are seeded: an empty page would be a lie.
    record.code = grpc::StatusCode::DATA_LOSS;
    record.message = "empty page for a seeded channel";
  }
  return record;
}

grpc::Status CassandraNode::Send(uint64_t channel, uint64_t nonce, const std::string& content,
                                 absl::Duration deadline, v1::Message* out) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  v1::SendMessageRequest request;
  request.set_channel_id(channel);
  request.set_author_id(7);
  request.set_content(content);
  request.set_nonce(nonce);
  v1::SendMessageResponse response;
  grpc::Status status = stub_->SendMessage(&context, request, &response);
  if (status.ok() && out != nullptr) *out = response.message();
  return status;
}

grpc::Status CassandraNode::Get(uint64_t channel, uint64_t message_id, absl::Duration deadline,
                                v1::Message* out) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  v1::GetMessageRequest request;
  request.set_channel_id(channel);
  request.set_message_id(message_id);
  v1::GetMessageResponse response;
  grpc::Status status = stub_->GetMessage(&context, request, &response);
  if (status.ok() && out != nullptr) *out = response.message();
  return status;
}

ReadLoad::ReadLoad(CassandraNode* node, Options options, std::vector<uint64_t> channels)
    : node_(node), options_(options), channels_(std::move(channels)) {}

ReadLoad::~ReadLoad() { StopAndCollect(); }

void ReadLoad::Start() {
  for (int t = 0; t < options_.threads; ++t) {
    threads_.emplace_back([this, t] {
      const absl::Duration period = absl::Seconds(1) / std::max(1, options_.per_thread_rate);
      absl::Time next = absl::Now();
      for (size_t i = static_cast<size_t>(t); !stop_.load(); ++i) {
        // Pacing of an open-ish loop, not synchronisation.
        if (const absl::Time now = absl::Now(); now < next) absl::SleepFor(next - now);
        next = std::max(next + period, absl::Now() - period);
        CallRecord record = node_->Read(channels_[i % channels_.size()], options_.deadline);
        std::lock_guard<std::mutex> lock(mu_);
        records_.push_back(std::move(record));
      }
    });
  }
}

std::vector<CallRecord> ReadLoad::Since(absl::Time since) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<CallRecord> out;
  for (const CallRecord& r : records_) {
    if (r.start >= since) out.push_back(r);
  }
  return out;
}

std::vector<CallRecord> ReadLoad::StopAndCollect() {
  stop_.store(true);
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  return records_;
}

std::string CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS(empty page)";
    default:
      return absl::StrCat("code ", static_cast<int>(code));
  }
}

std::string CountByCode(const std::vector<CallRecord>& records) {
  std::map<std::string, int> counts;
  for (const CallRecord& r : records) ++counts[CodeName(r.code)];
  std::string out;
  for (const auto& [code, n] : counts) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", code, " ", n);
  }
  return out.empty() ? "no calls" : out;
}

size_t CountOk(const std::vector<CallRecord>& records) {
  return std::count_if(records.begin(), records.end(),
                       [](const CallRecord& r) { return r.code == grpc::StatusCode::OK; });
}

}  // namespace ds::integration
