#include "testing/fake_message_store.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/time/clock.h"

namespace ds::storage {
namespace {

// How often parked calls with a cancel token are re-checked: CancelToken has
// no way to wake us up.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(1);

int Index(StoreMethod m) { return static_cast<int>(m); }

}  // namespace

FakeMessageStore::FakeMessageStore(FakeMessageStoreOptions options) : ids_(options.node_id) {
  const int threads = std::max(1, options.threads);
  workers_.reserve(threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

FakeMessageStore::~FakeMessageStore() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

// ---- MessageStore ----

void FakeMessageStore::GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                                   Callback<std::vector<Message>> done) {
  Enqueue(StoreMethod::kGetMessages, options,
          [this, query, done = std::move(done)](const absl::Status& status) {
            if (!status.ok()) return done(status);
            done(Query(query));
          });
}

void FakeMessageStore::GetMessage(uint64_t channel_id, uint64_t message_id,
                                  const CallOptions& options, Callback<Message> done) {
  Enqueue(StoreMethod::kGetMessage, options,
          [this, channel_id, message_id, done = std::move(done)](const absl::Status& status) {
            if (!status.ok()) return done(status);
            done(Lookup(channel_id, message_id));
          });
}

void FakeMessageStore::SendMessage(const NewMessage& message, const CallOptions& options,
                                   Callback<SendResult> done) {
  Enqueue(StoreMethod::kSendMessage, options,
          [this, message, done = std::move(done)](const absl::Status& status) {
            if (!status.ok()) return done(status);
            done(Send(message));
          });
}

void FakeMessageStore::BulkInsert(std::vector<Message> messages, const CallOptions& options,
                                  Callback<size_t> done) {
  Enqueue(StoreMethod::kBulkInsert, options,
          [this, messages = std::move(messages),
           done = std::move(done)](const absl::Status& status) mutable {
            if (!status.ok()) return done(status);
            done(Insert(std::move(messages)));
          });
}

// ---- Hooks and observations ----

void FakeMessageStore::SetLatency(absl::Duration latency) {
  std::lock_guard<std::mutex> lock(mu_);
  latency_ = std::max(latency, absl::ZeroDuration());
}

void FakeMessageStore::FailNext(int n, absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; ++i) fail_any_.push_back(status);
}

void FakeMessageStore::FailNext(StoreMethod method, int n, absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int i = 0; i < n; ++i) fail_method_[Index(method)].push_back(status);
}

void FakeMessageStore::Hold() {
  std::lock_guard<std::mutex> lock(mu_);
  held_ = true;
}

void FakeMessageStore::Release() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = false;
  }
  work_cv_.notify_all();
}

int64_t FakeMessageStore::calls(StoreMethod method) const {
  std::lock_guard<std::mutex> lock(mu_);
  return calls_[Index(method)];
}

int64_t FakeMessageStore::calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t total = 0;
  for (int64_t c : calls_) total += c;
  return total;
}

int64_t FakeMessageStore::executed(StoreMethod method) const {
  std::lock_guard<std::mutex> lock(mu_);
  return executed_[Index(method)];
}

int64_t FakeMessageStore::cancelled_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

int64_t FakeMessageStore::deadline_exceeded_calls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deadline_exceeded_;
}

int FakeMessageStore::parked() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

bool FakeMessageStore::WaitForCalls(int64_t n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return observe_cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout), [&] {
    int64_t total = 0;
    for (int64_t c : calls_) total += c;
    return total >= n;
  });
}

bool FakeMessageStore::WaitForCalls(StoreMethod method, int64_t n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return observe_cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                              [&] { return calls_[Index(method)] >= n; });
}

bool FakeMessageStore::WaitForParked(int n, absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return observe_cv_.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                              [&] { return in_flight_ >= n; });
}

void FakeMessageStore::Put(std::vector<Message> messages) {
  std::lock_guard<std::mutex> lock(data_mu_);
  for (Message& m : messages) {
    Channel& c = channels_[m.channel_id];
    const uint64_t id = m.message_id;
    c.messages[id] = std::move(m);
  }
}

size_t FakeMessageStore::RowCount(uint64_t channel_id) const {
  std::lock_guard<std::mutex> lock(data_mu_);
  auto it = channels_.find(channel_id);
  return it == channels_.end() ? 0 : it->second.messages.size();
}

// ---- Call machinery ----

void FakeMessageStore::Enqueue(StoreMethod method, const CallOptions& options,
                               std::function<void(const absl::Status&)> finish) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    Pending p{.method = method,
              .ready = absl::Now() + latency_,
              .deadline = options.deadline,
              .cancel = options.cancel,
              .failure = std::nullopt,
              .finish = std::move(finish)};
    std::deque<absl::Status>& specific = fail_method_[Index(method)];
    if (!specific.empty()) {
      p.failure = std::move(specific.front());
      specific.pop_front();
    } else if (!fail_any_.empty()) {
      p.failure = std::move(fail_any_.front());
      fail_any_.pop_front();
    }
    ++calls_[Index(method)];
    ++in_flight_;
    pending_.push_back(std::move(p));
    // Under the lock: once it is released a worker may finish the call, and
    // the caller destroy the store (and these condition variables) at once.
    work_cv_.notify_one();
    observe_cv_.notify_all();
  }
}

void FakeMessageStore::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (stopping_ && pending_.empty()) return;
    const absl::Time now = absl::Now();
    absl::Time wake = absl::InfiniteFuture();
    auto pick = pending_.end();
    absl::Status answer;  // OK = run it
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (stopping_) {
        pick = it;
        answer = absl::CancelledError("FakeMessageStore shutting down");
        break;
      }
      if (it->cancel != nullptr && it->cancel->cancelled()) {
        pick = it;
        answer = absl::CancelledError("cancelled by caller");
        ++cancelled_;
        break;
      }
      if (now >= it->deadline) {
        pick = it;
        answer = absl::DeadlineExceededError("deadline passed before the store answered");
        ++deadline_exceeded_;
        break;
      }
      if (!held_ && now >= it->ready) {
        pick = it;
        if (it->failure.has_value()) {
          answer = *it->failure;
        } else {
          ++executed_[Index(it->method)];
        }
        break;
      }
      wake = std::min(wake, it->deadline);
      if (!held_) wake = std::min(wake, it->ready);
      if (it->cancel != nullptr) wake = std::min(wake, now + kCancelPoll);
    }
    if (pick != pending_.end()) {
      Pending p = std::move(*pick);
      pending_.erase(pick);
      lock.unlock();
      p.finish(answer);
      p.finish = nullptr;  // destroy captured state outside the lock too
      lock.lock();
      --in_flight_;
      observe_cv_.notify_all();
      continue;
    }
    if (wake == absl::InfiniteFuture()) {
      work_cv_.wait(lock);
    } else {
      work_cv_.wait_until(lock, absl::ToChronoTime(wake));
    }
  }
}

// ---- The data ----

std::vector<Message> FakeMessageStore::Query(const GetMessagesQuery& q) const {
  std::vector<Message> out;
  std::lock_guard<std::mutex> lock(data_mu_);
  auto ch = channels_.find(q.channel_id);
  if (ch == channels_.end() || q.limit == 0) return out;
  const std::map<uint64_t, Message>& msgs = ch->second.messages;
  auto lo = q.after.has_value() ? msgs.upper_bound(*q.after) : msgs.begin();
  auto hi = q.before.has_value() ? msgs.lower_bound(*q.before) : msgs.end();
  if (q.after.has_value() && q.before.has_value() && *q.after >= *q.before) return out;
  if (q.after.has_value()) {
    // The `limit` oldest ids in (after, before), returned newest first.
    for (auto it = lo; it != hi && out.size() < q.limit; ++it) out.push_back(it->second);
    std::reverse(out.begin(), out.end());
  } else {
    for (auto it = hi; it != lo && out.size() < q.limit;) {
      --it;
      out.push_back(it->second);
    }
  }
  return out;
}

absl::StatusOr<Message> FakeMessageStore::Lookup(uint64_t channel_id, uint64_t message_id) const {
  std::lock_guard<std::mutex> lock(data_mu_);
  auto ch = channels_.find(channel_id);
  if (ch != channels_.end()) {
    auto it = ch->second.messages.find(message_id);
    if (it != ch->second.messages.end()) return it->second;
  }
  return absl::NotFoundError("no such message");
}

SendResult FakeMessageStore::Send(const NewMessage& m) {
  std::lock_guard<std::mutex> lock(data_mu_);
  Channel& c = channels_[m.channel_id];
  auto nonce = c.nonces.find(m.nonce);
  if (nonce != c.nonces.end()) {
    auto it = c.messages.find(nonce->second);
    if (it != c.messages.end()) return SendResult{.message = it->second, .duplicate = true};
  }
  Message stored{.channel_id = m.channel_id,
                 .message_id = ids_.Next(),
                 .author_id = m.author_id,
                 .content = m.content};
  c.nonces[m.nonce] = stored.message_id;
  c.messages[stored.message_id] = stored;
  return SendResult{.message = std::move(stored), .duplicate = false};
}

size_t FakeMessageStore::Insert(std::vector<Message> messages) {
  std::lock_guard<std::mutex> lock(data_mu_);
  size_t inserted = 0;
  for (Message& m : messages) {
    Channel& c = channels_[m.channel_id];
    const uint64_t id = m.message_id;
    if (c.messages.try_emplace(id, std::move(m)).second) ++inserted;
  }
  return inserted;
}

}  // namespace ds::storage
