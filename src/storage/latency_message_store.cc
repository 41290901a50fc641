#include "storage/latency_message_store.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/timer_thread.h"

namespace ds::storage {

LatencyMessageStore::LatencyMessageStore(std::shared_ptr<MessageStore> inner,
                                         absl::Duration latency)
    : inner_(std::move(inner)),
      latency_(std::max(latency, absl::ZeroDuration())),
      timer_(std::make_unique<TimerThread>()) {}

LatencyMessageStore::~LatencyMessageStore() {
  stopping_.store(true, std::memory_order_release);
  timer_.reset();  // fires every waiting call now: each answers CANCELLED
}

template <typename T>
void LatencyMessageStore::Delay(const CallOptions& options, Callback<T> done,
                                std::function<void(Callback<T>)> forward) {
  const absl::Time due = absl::Now() + latency_;
  const bool deadline_first = options.deadline < due;
  timer_->Schedule(
      deadline_first ? options.deadline : due,
      [this, deadline_first, cancel = options.cancel, done = std::move(done),
       forward = std::move(forward)]() mutable {
        if (stopping_.load(std::memory_order_acquire)) {
          return done(absl::CancelledError("latency store is shutting down"));
        }
        if (deadline_first) {
          return done(absl::DeadlineExceededError("deadline passed during the simulated latency"));
        }
        if (cancel != nullptr && cancel->cancelled()) {
          return done(absl::CancelledError("cancelled during the simulated latency"));
        }
        forward(std::move(done));
      });
}

void LatencyMessageStore::GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                                      Callback<std::vector<Message>> done) {
  Delay<std::vector<Message>>(options, std::move(done), [inner = inner_, query, options](auto cb) {
    inner->GetMessages(query, options, std::move(cb));
  });
}

void LatencyMessageStore::GetMessage(uint64_t channel_id, uint64_t message_id,
                                     const CallOptions& options, Callback<Message> done) {
  Delay<Message>(options, std::move(done),
                 [inner = inner_, channel_id, message_id, options](auto cb) {
                   inner->GetMessage(channel_id, message_id, options, std::move(cb));
                 });
}

void LatencyMessageStore::SendMessage(const NewMessage& message, const CallOptions& options,
                                      Callback<SendResult> done) {
  Delay<SendResult>(options, std::move(done), [inner = inner_, message, options](auto cb) {
    inner->SendMessage(message, options, std::move(cb));
  });
}

void LatencyMessageStore::BulkInsert(std::vector<Message> messages, const CallOptions& options,
                                     Callback<size_t> done) {
  Delay<size_t>(options, std::move(done),
                [inner = inner_, messages = std::move(messages), options](auto cb) mutable {
                  inner->BulkInsert(std::move(messages), options, std::move(cb));
                });
}

}  // namespace ds::storage
