// RoutedCall (routing-internal): one call of a RoutedClient — its attempts,
// failovers and hedge — as documented in routed_client.h.
//
// State machine, all under `mu_`:
// - The first attempt goes to order_[0]. An attempt that has a next node gets
//   the per-attempt deadline (ClientCore::AttemptDeadline); the last node's
//   attempt gets the caller's deadline.
// - A read also arms a hedge timer; when it fires while attempts are still
//   outstanding and the budget allows, one hedge goes to the next node.
// - An attempt ending retryably (UNAVAILABLE, the per-attempt timeout, or a
//   CANCELLED the node chose) starts the next node at once if one is left and
//   time remains; otherwise the call waits for its other attempts, and fails
//   when none is left.
// - Any other end is the answer: the call finishes, cancels its other
//   attempts and calls `done` once, outside the lock.
// Every gRPC callback holds the call by shared_ptr, so the attempts (contexts,
// responses) live until their last callback has run.
//
// Threads: attempts complete on gRPC callback threads, the hedge fires on the
// routing timer's thread; `mu_` serialises them. gRPC methods are started and
// contexts cancelled outside the lock, since gRPC may run a callback inline.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "routing/internal/client_core.h"
#include "routing/routed_client.h"

namespace ds::routing::internal {

template <typename Request, typename Response>
using AsyncMethod = void (*)(dataservice::v1::MessageService::Stub*, grpc::ClientContext*,
                             const Request*, Response*, std::function<void(grpc::Status)>);

template <typename Request, typename Response>
class RoutedCall final : public TimerTarget,
                         public std::enable_shared_from_this<RoutedCall<Request, Response>> {
 public:
  struct Params {
    AsyncMethod<Request, Response> method;
    CallKind kind;
    bool idempotent;  // may be sent again (failover, hedge)
    uint64_t channel_id;
    absl::Time deadline;
  };

  static void Start(std::shared_ptr<ClientCore> core, const Params& params, const Request& request,
                    const CallOptions& options, RoutedCallback<Response> done) {
    auto call = std::shared_ptr<RoutedCall>(
        new RoutedCall(std::move(core), params, request, options, std::move(done)));
    call->Begin();
  }

  void OnTimer() override {
    Attempt* hedge = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const absl::Time now = absl::Now();
      if (finished_ || hedged_ || outstanding_ == 0 || next_ >= order_.size() ||
          now >= params_.deadline || !core_->TryTakeHedge()) {
        return;
      }
      hedged_ = true;
      info_.hedged = true;
      hedge = PrepareLocked(/*hedge=*/true, now);
    }
    Launch(hedge);
  }

 private:
  struct Attempt {
    int node = -1;
    bool hedge = false;
    bool cancelled = false;  // by us, because the call finished
    bool ended = false;      // its callback ran
    absl::Time start;
    absl::Time deadline;
    grpc::ClientContext context;
    Response response;
  };

  RoutedCall(std::shared_ptr<ClientCore> core, const Params& params, const Request& request,
             const CallOptions& options, RoutedCallback<Response> done)
      : core_(std::move(core)),
        params_(params),
        request_(request),
        options_(options),
        done_(std::move(done)),
        order_(core_->FailoverOrder(params.channel_id)) {}

  void Begin() {
    core_->OnCallStart();
    const absl::Time now = absl::Now();
    if (now >= params_.deadline) {
      Deliver(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                           "deadline passed before the first attempt"),
              nullptr);
      return;
    }
    if (order_.empty()) {  // cannot happen: Membership always has a node
      Deliver(grpc::Status(grpc::StatusCode::UNAVAILABLE, "no nodes"), nullptr);
      return;
    }
    Attempt* first = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      first = PrepareLocked(/*hedge=*/false, now);
    }
    if (params_.kind == CallKind::kRead && params_.idempotent && order_.size() > 1) {
      const absl::Duration delay = core_->HedgeDelay();
      if (delay != absl::InfiniteDuration() && now + delay < params_.deadline) {
        core_->timer().Schedule(now + delay, this->weak_from_this());
      }
    }
    Launch(first);
  }

  // Creates the attempt on order_[next_++]. Requires mu_ and a next node.
  Attempt* PrepareLocked(bool hedge, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto attempt = std::make_unique<Attempt>();
    attempt->node = order_[next_++];
    attempt->hedge = hedge;
    attempt->start = now;
    const bool has_next = params_.idempotent && next_ < order_.size();
    attempt->deadline =
        has_next ? core_->AttemptDeadline(params_.kind, now, params_.deadline) : params_.deadline;
    grpc::ClientContext& context = attempt->context;
    if (attempt->deadline != absl::InfiniteFuture()) {
      context.set_deadline(absl::ToChronoTime(attempt->deadline));
    }
    if (!options_.consistency_token.empty()) {
      context.AddMetadata(kConsistencyTokenKey, options_.consistency_token);
    }
    if (!options_.request_id.empty()) context.AddMetadata(kRequestIdKey, options_.request_id);
    tried_.push_back(core_->nodes()[attempt->node]->address);
    ++info_.attempts;
    ++outstanding_;
    attempts_.push_back(std::move(attempt));
    return attempts_.back().get();
  }

  void Launch(Attempt* attempt) {
    core_->OnAttemptStart(attempt->node, attempt->start);
    params_.method(core_->StubFor(attempt->node), &attempt->context, &request_, &attempt->response,
                   [self = this->shared_from_this(), attempt](grpc::Status status) {
                     self->OnAttemptDone(attempt, std::move(status));
                   });
  }

  AttemptOutcome Classify(const Attempt& attempt, const grpc::Status& status, absl::Time now,
                          bool cancelled) const {
    // Whatever an attempt we cancelled ended with says nothing more about its node.
    if (cancelled) return AttemptOutcome::kAbandoned;
    switch (status.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
        // Statuses the node itself sends carry trailing metadata of ours; a
        // transport failure has none. Only the latter is the node's fault.
        return attempt.context.GetServerTrailingMetadata().empty()
                   ? AttemptOutcome::kTransportFailure
                   : AttemptOutcome::kAnswered;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        return attempt.deadline < params_.deadline && now < params_.deadline
                   ? AttemptOutcome::kTimedOut
                   : AttemptOutcome::kAbandoned;
      case grpc::StatusCode::CANCELLED:
        return AttemptOutcome::kAnswered;  // the node's own CANCELLED (a drain)
      default:
        return AttemptOutcome::kAnswered;
    }
  }

  void OnAttemptDone(Attempt* attempt, grpc::Status status) {
    const absl::Time now = absl::Now();
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled = attempt->cancelled;
    }
    const AttemptOutcome outcome = Classify(*attempt, status, now, cancelled);
    core_->OnAttemptEnd(attempt->node, params_.kind, attempt->start, now, outcome);
    const grpc::StatusCode code = status.error_code();
    const bool retryable =
        params_.idempotent &&
        (code == grpc::StatusCode::UNAVAILABLE || outcome == AttemptOutcome::kTimedOut ||
         (code == grpc::StatusCode::CANCELLED && !cancelled));
    Attempt* next = nullptr;
    Attempt* winner = nullptr;
    std::vector<Attempt*> losers;
    std::optional<grpc::Status> final_status;
    {
      std::lock_guard<std::mutex> lock(mu_);
      --outstanding_;
      attempt->ended = true;
      if (finished_) return;  // a loser, or late
      if (!retryable) {
        // Only a node's own answer names a node in the info.
        if (outcome == AttemptOutcome::kAnswered) winner = attempt;
        final_status = std::move(status);
      } else {
        last_status_ = std::move(status);
        if (next_ < order_.size() && now < params_.deadline) {
          core_->CountFailover();
          next = PrepareLocked(/*hedge=*/false, now);
        } else if (outstanding_ == 0) {
          final_status = ExhaustedLocked(now);
        }
      }
      if (final_status.has_value()) {
        finished_ = true;
        for (auto& a : attempts_) {
          if (!a->ended && !a->cancelled) {
            a->cancelled = true;
            losers.push_back(a.get());
          }
        }
      }
    }
    if (next != nullptr) Launch(next);
    for (Attempt* loser : losers) loser->context.TryCancel();
    if (final_status.has_value()) Deliver(std::move(*final_status), winner);
  }

  // The status of a call whose every attempt failed retryably. Requires mu_.
  grpc::Status ExhaustedLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (now >= params_.deadline) {
      return grpc::Status(
          grpc::StatusCode::DEADLINE_EXCEEDED,
          absl::StrCat("deadline passed after trying ", absl::StrJoin(tried_, ", ")));
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE,
                        absl::StrCat("all nodes unavailable (tried ", absl::StrJoin(tried_, ", "),
                                     "); last error: ", last_status_.error_message()));
  }

  // Calls `done` once. `winner` is the attempt whose answer it gets, or null.
  // Runs after finished_ was set, so no other thread touches info_ or the
  // winner's response any more.
  void Deliver(grpc::Status status, Attempt* winner) {
    Response response;
    if (winner != nullptr) {
      info_.node = core_->nodes()[winner->node]->address;
      for (const auto& [key, value] : winner->context.GetServerTrailingMetadata()) {
        info_.trailing_metadata.emplace_back(std::string(key.data(), key.size()),
                                             std::string(value.data(), value.size()));
        if (key == kCoalescedKey) info_.coalesced.assign(value.data(), value.size());
      }
      if (winner->hedge) {
        info_.hedge_won = true;
        core_->CountHedgeWin();
      }
      response = std::move(winner->response);
    }
    auto done = std::move(done_);
    done(std::move(status), std::move(response), std::move(info_));
  }

  const std::shared_ptr<ClientCore> core_;
  const Params params_;
  const Request request_;
  const CallOptions options_;
  RoutedCallback<Response> done_;
  const std::vector<int> order_;

  std::mutex mu_;
  std::vector<std::unique_ptr<Attempt>> attempts_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;  // index into order_ of the next node to try
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  bool hedged_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status last_status_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> tried_ ABSL_GUARDED_BY(mu_);
  CallInfo info_;  // attempts/hedged under mu_; the rest set by Deliver
};

}  // namespace ds::routing::internal
