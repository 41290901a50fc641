// CassandraMessageStore: the calls (GetMessage, GetMessages, SendMessage).
// Open, the schema and BulkInsert are in cassandra_store_setup.cc.
#include "storage/cassandra/cassandra_message_store.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/timer_thread.h"
#include "storage/cassandra/internal/store_statements.h"

namespace ds::storage {

using cassandra::CqlValue;
using cassandra::ExecuteOptions;
using cassandra::Rows;
using cassandra_internal::FromCql;
using cassandra_internal::kMaxCqlId;
using cassandra_internal::ToCql;

namespace {

// A request timeout this close to the caller's deadline counts as the
// deadline (the driver's timer and absl::Now() are different clocks).
constexpr absl::Duration kDeadlineSlack = absl::Milliseconds(20);
// Buckets listed per channel_buckets query while walking a channel.
constexpr int32_t kBucketsPerListing = 32;
// Attempts of a send's nonce LWT on timeouts or unavailability (re-running it
// is harmless, see the header's Rationale), within the caller's deadline.
constexpr int kMaxLwtAttempts = 5;
// Entries of the "bucket already in channel_buckets" cache before it is reset.
constexpr size_t kMaxKnownBuckets = 1 << 20;

absl::StatusOr<std::string> CopyText(const Rows& rows, size_t row, size_t column) {
  absl::StatusOr<std::string_view> bytes = rows.GetBytes(row, column);
  if (!bytes.ok()) return bytes.status();
  return std::string(*bytes);
}

// The index of column `name`, or INTERNAL.
absl::StatusOr<size_t> Column(const Rows& rows, std::string_view name) {
  for (size_t c = 0; c < rows.column_count(); ++c) {
    if (rows.ColumnName(c) == name) return c;
  }
  return absl::InternalError(absl::StrCat("cassandra: result has no column ", std::string(name)));
}

}  // namespace

absl::Status MapCqlStatus(const absl::Status& status, absl::Time deadline, absl::Time now) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return status;
    case absl::StatusCode::kDeadlineExceeded:
      if (now + kDeadlineSlack >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat("cassandra: ", status.message()));
      }
      return absl::UnavailableError(
          absl::StrCat("cassandra: timed out before the call's deadline: ", status.message()));
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      // Our statements or row accessors disagree with the schema: not the
      // caller's fault, and retrying will not help.
      return absl::InternalError(absl::StrCat("cassandra: ", status.message()));
    case absl::StatusCode::kCancelled:
      return absl::UnavailableError(absl::StrCat("cassandra: ", status.message()));
    default:
      return absl::Status(status.code(), absl::StrCat("cassandra: ", status.message()));
  }
}

// ---- Helpers shared by the calls ----

absl::Status CassandraMessageStore::CheckCall(absl::Time deadline,
                                              const CancelToken* cancel) const {
  if (stopping_.load(std::memory_order_acquire)) {
    return absl::CancelledError("cassandra store is shutting down");
  }
  if (cancel != nullptr && cancel->cancelled()) {
    return absl::CancelledError("cancelled before the query started");
  }
  if (absl::Now() >= deadline) {
    return absl::DeadlineExceededError("deadline passed before the query started");
  }
  return absl::OkStatus();
}

absl::StatusOr<ExecuteOptions> CassandraMessageStore::RequestOptions(absl::Time deadline) const {
  const absl::Duration remaining = deadline - absl::Now();
  if (remaining <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError("deadline passed before the query started");
  }
  // Whole milliseconds, at least one: zero would mean "the client default".
  const absl::Duration timeout =
      std::max(absl::Milliseconds(1),
               absl::Trunc(std::min(remaining, options_.request_timeout), absl::Milliseconds(1)));
  return ExecuteOptions{.consistency = options_.consistency, .timeout = timeout};
}

template <typename T>
void CassandraMessageStore::AnswerSoon(Callback<T> done, absl::StatusOr<T> result) {
  timer_->Schedule(absl::Now(), [done = std::move(done), result = std::move(result)]() mutable {
    done(std::move(result));
  });
}

bool CassandraMessageStore::BucketKnown(uint64_t channel_id, int32_t bucket) {
  std::lock_guard<std::mutex> lock(buckets_mu_);
  return known_buckets_.contains(std::make_pair(channel_id, bucket));
}

void CassandraMessageStore::RememberBucket(uint64_t channel_id, int32_t bucket) {
  std::lock_guard<std::mutex> lock(buckets_mu_);
  if (known_buckets_.size() >= kMaxKnownBuckets) known_buckets_.clear();
  known_buckets_.insert(std::make_pair(channel_id, bucket));
  // A send into a newer bucket moves the channel's newest-bucket hint.
  auto it = newest_bucket_.find(channel_id);
  if (it != newest_bucket_.end() && it->second < bucket) it->second = bucket;
}

std::optional<int32_t> CassandraMessageStore::NewestBucketHint(uint64_t channel_id) {
  std::lock_guard<std::mutex> lock(buckets_mu_);
  auto it = newest_bucket_.find(channel_id);
  if (it == newest_bucket_.end()) return std::nullopt;
  return it->second;
}

void CassandraMessageStore::SetNewestBucketHint(uint64_t channel_id, int32_t bucket) {
  std::lock_guard<std::mutex> lock(buckets_mu_);
  if (newest_bucket_.size() >= kMaxKnownBuckets) newest_bucket_.clear();
  newest_bucket_[channel_id] = bucket;
}

// ---- GetMessage ----

void CassandraMessageStore::GetMessage(uint64_t channel_id, uint64_t message_id,
                                       const CallOptions& options, Callback<Message> done) {
  if (absl::Status s = CheckCall(options.deadline, options.cancel.get()); !s.ok()) {
    return AnswerSoon<Message>(std::move(done), s);
  }
  if (message_id > kMaxCqlId) {  // cannot be stored (see BulkInsert)
    return AnswerSoon<Message>(std::move(done), absl::NotFoundError("no such message"));
  }
  absl::StatusOr<ExecuteOptions> request = RequestOptions(options.deadline);
  if (!request.ok()) return AnswerSoon<Message>(std::move(done), request.status());
  const CqlValue values[] = {CqlValue::BigInt(ToCql(channel_id)),
                             CqlValue::Int(BucketOf(message_id)),
                             CqlValue::BigInt(ToCql(message_id))};
  client_->Execute(statements_->get_one(), values, *request,
                   [channel_id, message_id, deadline = options.deadline,
                    done = std::move(done)](absl::StatusOr<Rows> rows) {
                     if (!rows.ok())
                       return done(MapCqlStatus(rows.status(), deadline, absl::Now()));
                     if (rows->empty()) return done(absl::NotFoundError("no such message"));
                     absl::StatusOr<int64_t> author = rows->GetInt64(0, 0);
                     absl::StatusOr<std::string> content = CopyText(*rows, 0, 1);
                     if (!author.ok())
                       return done(MapCqlStatus(author.status(), deadline, absl::Now()));
                     if (!content.ok())
                       return done(MapCqlStatus(content.status(), deadline, absl::Now()));
                     done(Message{.channel_id = channel_id,
                                  .message_id = message_id,
                                  .author_id = FromCql(*author),
                                  .content = *std::move(content)});
                   });
}

// ---- GetMessages: the bucket walk ----

// One GetMessages call: alternates channel_buckets listings and per-bucket
// queries, one request at a time, each continuing from the previous one's
// callback (on a driver thread).
class CassandraMessageStore::PageWalk : public std::enable_shared_from_this<PageWalk> {
 public:
  PageWalk(CassandraMessageStore* store, const GetMessagesQuery& query, const CallOptions& options,
           Callback<std::vector<Message>> done)
      : store_(store),
        query_(query),
        deadline_(options.deadline),
        cancel_(options.cancel),
        done_(std::move(done)) {}

  void Start() {
    // Exclusive `before` becomes an inclusive upper id; ids >= 2^63 are
    // never stored, so a larger bound is no bound.
    hi_id_ = kMaxCqlId;
    if (query_.before.has_value()) {
      if (*query_.before == 0)
        return store_->AnswerSoon<std::vector<Message>>(std::move(done_), std::vector<Message>());
      hi_id_ = std::min<uint64_t>(*query_.before - 1, kMaxCqlId);
    }
    ascending_ = query_.after.has_value();
    if (ascending_) {
      if (*query_.after >= hi_id_) {
        return store_->AnswerSoon<std::vector<Message>>(std::move(done_), std::vector<Message>());
      }
      lo_id_ = *query_.after;
      cursor_ = BucketOf(lo_id_ + 1);
    } else {
      cursor_ = BucketOf(hi_id_);
    }
    end_bucket_ = BucketOf(hi_id_);
    if (query_.limit == 0)
      return store_->AnswerSoon<std::vector<Message>>(std::move(done_), std::vector<Message>());
    page_.reserve(std::min<uint32_t>(query_.limit, 1000));
    if (!ascending_ && store_->options_.speculative_reads) {
      // Speculate on the first bucket (see ListBuckets): the bucket of
      // `before`, or the newest bucket this store saw for the channel.
      speculated_ = query_.before.has_value() ? std::optional<int32_t>(cursor_)
                                              : store_->NewestBucketHint(query_.channel_id);
    }
    ListBuckets();
  }

 private:
  // Checks the call may go on and returns the options of its next request;
  // on failure the call has been answered.
  std::optional<ExecuteOptions> NextRequest() {
    absl::Status s = store_->CheckCall(deadline_, cancel_.get());
    absl::StatusOr<ExecuteOptions> request =
        s.ok() ? store_->RequestOptions(deadline_) : absl::StatusOr<ExecuteOptions>(s);
    if (!request.ok()) {
      Finish(request.status());
      return std::nullopt;
    }
    return *std::move(request);
  }

  // Lists the next buckets. On the first listing of a newest-first walk with
  // a speculated bucket, that bucket's query runs in parallel: if the listing
  // confirms it is the first bucket (the usual case), the call takes one
  // round trip instead of two; otherwise its rows are dropped.
  void ListBuckets() {
    std::optional<ExecuteOptions> request = NextRequest();
    if (!request.has_value()) return;
    auto self = shared_from_this();
    const CqlValue channel = CqlValue::BigInt(ToCql(query_.channel_id));
    const bool speculate = speculated_.has_value();
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_ = speculate ? 2 : 1;
    }
    if (speculate) {
      QueryBucket(*speculated_, *request, [self](absl::StatusOr<Rows> rows) {
        self->OnListed(std::nullopt, std::move(rows));
      });
    }
    auto on_done = [self](absl::StatusOr<Rows> rows) {
      self->OnListed(std::move(rows), std::nullopt);
    };
    if (ascending_) {
      const CqlValue values[] = {channel, CqlValue::Int(cursor_), CqlValue::Int(end_bucket_),
                                 CqlValue::Int(kBucketsPerListing)};
      store_->client_->Execute(store_->statements_->buckets_asc(), values, *request, on_done);
    } else {
      const CqlValue values[] = {channel, CqlValue::Int(cursor_),
                                 CqlValue::Int(kBucketsPerListing)};
      store_->client_->Execute(store_->statements_->buckets_desc(), values, *request, on_done);
    }
  }

  // Collects the listing and the speculative rows (on driver threads, maybe
  // at once); the last of the two to arrive continues the walk.
  void OnListed(std::optional<absl::StatusOr<Rows>> listing,
                std::optional<absl::StatusOr<Rows>> speculative) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (listing.has_value()) listing_ = std::move(listing);
      if (speculative.has_value()) speculative_rows_ = std::move(speculative);
      if (--pending_ > 0) return;
      listing = std::move(listing_);
      speculative = std::move(speculative_rows_);
    }
    const bool first_listing = !listed_before_;
    listed_before_ = true;
    const std::optional<int32_t> speculated = std::exchange(speculated_, std::nullopt);
    absl::StatusOr<Rows>& rows = *listing;
    if (!rows.ok()) return Finish(MapCqlStatus(rows.status(), deadline_, absl::Now()));
    buckets_.clear();
    next_ = 0;
    for (size_t r = 0; r < rows->size(); ++r) {
      absl::StatusOr<int32_t> bucket = rows->GetInt32(r, 0);
      if (!bucket.ok()) return Finish(MapCqlStatus(bucket.status(), deadline_, absl::Now()));
      buckets_.push_back(*bucket);
    }
    listed_all_ = rows->size() < static_cast<size_t>(kBucketsPerListing);
    if (!buckets_.empty()) {
      const int32_t last = buckets_.back();
      // A listing ending at the int32 limits has nothing beyond it.
      if (ascending_ ? last == std::numeric_limits<int32_t>::max()
                     : last == std::numeric_limits<int32_t>::min()) {
        listed_all_ = true;
      } else {
        cursor_ = ascending_ ? last + 1 : last - 1;
      }
      if (first_listing && !ascending_ && !query_.before.has_value()) {
        store_->SetNewestBucketHint(query_.channel_id, buckets_.front());
      }
    }
    if (speculated.has_value() && !buckets_.empty() && buckets_.front() == *speculated) {
      next_ = 1;
      return OnRows(*std::move(speculative));
    }
    NextBucket();
  }

  // Queries `bucket` for the rows still missing.
  void QueryBucket(int32_t bucket, const ExecuteOptions& request,
                   const cassandra::CqlClient::Callback& on_done) {
    const CqlValue channel = CqlValue::BigInt(ToCql(query_.channel_id));
    const CqlValue missing = CqlValue::Int(static_cast<int32_t>(
        std::min<size_t>(query_.limit - page_.size(), std::numeric_limits<int32_t>::max())));
    if (ascending_) {
      const CqlValue values[] = {channel, CqlValue::Int(bucket), CqlValue::BigInt(ToCql(lo_id_)),
                                 CqlValue::BigInt(ToCql(hi_id_)), missing};
      store_->client_->Execute(store_->statements_->page_asc(), values, request, on_done);
    } else {
      const CqlValue values[] = {channel, CqlValue::Int(bucket), CqlValue::BigInt(ToCql(hi_id_)),
                                 missing};
      store_->client_->Execute(store_->statements_->page_desc(), values, request, on_done);
    }
  }

  void NextBucket() {
    if (page_.size() >= query_.limit) return Finish(std::move(page_));
    if (next_ >= buckets_.size()) {
      if (listed_all_) return Finish(std::move(page_));
      return ListBuckets();
    }
    const int32_t bucket = buckets_[next_++];
    std::optional<ExecuteOptions> request = NextRequest();
    if (!request.has_value()) return;
    auto self = shared_from_this();
    QueryBucket(bucket, *request,
                [self](absl::StatusOr<Rows> rows) { self->OnRows(std::move(rows)); });
  }

  void OnRows(absl::StatusOr<Rows> rows) {
    if (!rows.ok()) return Finish(MapCqlStatus(rows.status(), deadline_, absl::Now()));
    for (size_t r = 0; r < rows->size() && page_.size() < query_.limit; ++r) {
      absl::StatusOr<int64_t> id = rows->GetInt64(r, 0);
      absl::StatusOr<int64_t> author = rows->GetInt64(r, 1);
      absl::StatusOr<std::string> content = CopyText(*rows, r, 2);
      for (const absl::Status& s : {id.status(), author.status(), content.status()}) {
        if (!s.ok()) return Finish(MapCqlStatus(s, deadline_, absl::Now()));
      }
      page_.push_back(Message{.channel_id = query_.channel_id,
                              .message_id = FromCql(*id),
                              .author_id = FromCql(*author),
                              .content = *std::move(content)});
    }
    NextBucket();
  }

  void Finish(absl::StatusOr<std::vector<Message>> result) {
    if (result.ok() && ascending_) std::reverse(result->begin(), result->end());  // newest first
    Callback<std::vector<Message>> done = std::move(done_);
    done(std::move(result));
  }

  CassandraMessageStore* const store_;
  const GetMessagesQuery query_;
  const absl::Time deadline_;
  const std::shared_ptr<const CancelToken> cancel_;
  Callback<std::vector<Message>> done_;

  bool ascending_ = false;  // `after` given: oldest ids first, reversed at the end
  uint64_t lo_id_ = 0;      // exclusive (ascending only)
  uint64_t hi_id_ = 0;      // inclusive
  int32_t cursor_ = 0;      // where the next listing starts (inclusive)
  int32_t end_bucket_ = 0;  // last bucket an ascending walk may visit
  bool listed_all_ = false;
  bool listed_before_ = false;
  std::optional<int32_t> speculated_;  // bucket queried with the next listing
  std::vector<int32_t> buckets_;       // the current listing
  size_t next_ = 0;                    // next index into buckets_
  std::vector<Message> page_;

  // The join of a listing and its speculative query.
  std::mutex mu_;
  int pending_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::StatusOr<Rows>> listing_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::StatusOr<Rows>> speculative_rows_ ABSL_GUARDED_BY(mu_);
};

void CassandraMessageStore::GetMessages(const GetMessagesQuery& query, const CallOptions& options,
                                        Callback<std::vector<Message>> done) {
  if (absl::Status s = CheckCall(options.deadline, options.cancel.get()); !s.ok()) {
    return AnswerSoon<std::vector<Message>>(std::move(done), s);
  }
  std::make_shared<PageWalk>(this, query, options, std::move(done))->Start();
}

// ---- SendMessage ----

// One SendMessage call: the nonce LWT (retried on transient errors), then the
// message row and its channel_buckets row in parallel (see the Rationale in
// the header).
class CassandraMessageStore::SendOp : public std::enable_shared_from_this<SendOp> {
 public:
  SendOp(CassandraMessageStore* store, const NewMessage& message, const CallOptions& options,
         Callback<SendResult> done)
      : store_(store),
        message_(message),
        deadline_(options.deadline),
        done_(std::move(done)),
        own_id_(store->ids_.Next()) {}

  void Start() { WriteNonce(); }

 private:
  void WriteNonce() {
    absl::StatusOr<ExecuteOptions> request = store_->RequestOptions(deadline_);
    if (!request.ok()) return Finish(request.status());
    ++attempts_;
    const CqlValue values[] = {
        CqlValue::BigInt(ToCql(message_.channel_id)), CqlValue::BigInt(ToCql(message_.nonce)),
        CqlValue::BigInt(ToCql(own_id_)), CqlValue::BigInt(ToCql(message_.author_id)),
        CqlValue::Text(message_.content)};
    auto self = shared_from_this();
    store_->client_->Execute(store_->statements_->insert_nonce(), values, *request,
                             [self](absl::StatusOr<Rows> rows) { self->OnNonce(std::move(rows)); });
  }

  void OnNonce(absl::StatusOr<Rows> rows) {
    if (!rows.ok()) {
      const absl::StatusCode code = rows.status().code();
      const bool transient =
          code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded;
      if (transient && attempts_ < kMaxLwtAttempts && absl::Now() < deadline_ &&
          !store_->stopping_.load(std::memory_order_acquire)) {
        return WriteNonce();
      }
      return Finish(MapCqlStatus(rows.status(), deadline_, absl::Now()));
    }
    absl::Status parsed = ParseNonce(*rows);
    if (!parsed.ok()) return Finish(MapCqlStatus(parsed, deadline_, absl::Now()));
    WriteMessage();
  }

  // Fills stored_ from the LWT's answer: ours if applied, else the row that
  // won (which is still ours if a lost answer made us retry).
  absl::Status ParseNonce(const Rows& rows) {
    if (rows.size() != 1) {
      return absl::InternalError(absl::StrCat("LWT answered ", rows.size(), " rows"));
    }
    absl::StatusOr<size_t> applied_col = Column(rows, "[applied]");
    if (!applied_col.ok()) return applied_col.status();
    absl::StatusOr<bool> applied = rows.GetBool(0, *applied_col);
    if (!applied.ok()) return applied.status();
    if (*applied) {
      stored_ = Message{.channel_id = message_.channel_id,
                        .message_id = own_id_,
                        .author_id = message_.author_id,
                        .content = message_.content};
      duplicate_ = false;
      return absl::OkStatus();
    }
    absl::StatusOr<size_t> id_col = Column(rows, "message_id");
    absl::StatusOr<size_t> author_col = Column(rows, "author_id");
    absl::StatusOr<size_t> content_col = Column(rows, "content");
    for (const absl::Status& s : {id_col.status(), author_col.status(), content_col.status()}) {
      if (!s.ok()) return s;
    }
    absl::StatusOr<int64_t> id = rows.GetInt64(0, *id_col);
    absl::StatusOr<int64_t> author = rows.GetInt64(0, *author_col);
    absl::StatusOr<std::string> content = CopyText(rows, 0, *content_col);
    for (const absl::Status& s : {id.status(), author.status(), content.status()}) {
      if (!s.ok()) return s;
    }
    stored_ = Message{.channel_id = message_.channel_id,
                      .message_id = FromCql(*id),
                      .author_id = FromCql(*author),
                      .content = *std::move(content)};
    duplicate_ = stored_.message_id != own_id_;
    return absl::OkStatus();
  }

  // The nonce record exists: (re)write its message row, whatever the cancel
  // token says (the record must not stay without its row).
  void WriteMessage() {
    absl::StatusOr<ExecuteOptions> request = store_->RequestOptions(deadline_);
    if (!request.ok()) return Finish(request.status());  // a retry completes the row
    const int32_t bucket = BucketOf(stored_.message_id);
    const bool write_bucket = !store_->BucketKnown(stored_.channel_id, bucket);
    pending_.store(write_bucket ? 2 : 1, std::memory_order_relaxed);
    auto self = shared_from_this();
    const CqlValue channel = CqlValue::BigInt(ToCql(stored_.channel_id));
    if (write_bucket) {
      const CqlValue values[] = {channel, CqlValue::Int(bucket)};
      store_->client_->Execute(store_->statements_->insert_bucket(), values, *request,
                               [self, bucket](absl::StatusOr<Rows> rows) {
                                 if (rows.ok()) {
                                   self->store_->RememberBucket(self->stored_.channel_id, bucket);
                                 }
                                 self->OnWritten(rows.status());
                               });
    }
    const CqlValue values[] = {
        channel,
        CqlValue::Int(bucket),
        CqlValue::BigInt(ToCql(stored_.message_id)),
        CqlValue::BigInt(ToCql(stored_.author_id)),
        CqlValue::Text(stored_.content),
        CqlValue::BigInt(cassandra_internal::WriteTimestampMicros(stored_.message_id))};
    store_->client_->Execute(store_->statements_->insert_message(), values, *request,
                             [self](absl::StatusOr<Rows> rows) { self->OnWritten(rows.status()); });
  }

  void OnWritten(const absl::Status& status) {
    if (!status.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (write_error_.ok()) write_error_ = MapCqlStatus(status, deadline_, absl::Now());
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    absl::Status error;
    {
      std::lock_guard<std::mutex> lock(mu_);
      error = write_error_;
    }
    if (!error.ok()) return Finish(error);
    Finish(SendResult{.message = stored_, .duplicate = duplicate_});
  }

  void Finish(absl::StatusOr<SendResult> result) {
    Callback<SendResult> done = std::move(done_);
    done(std::move(result));
  }

  CassandraMessageStore* const store_;
  const NewMessage message_;
  const absl::Time deadline_;
  Callback<SendResult> done_;
  const uint64_t own_id_;  // the id this send proposes in its nonce record
  int attempts_ = 0;       // of the LWT
  Message stored_;         // the record's message (set before the row writes)
  bool duplicate_ = false;
  std::atomic<int> pending_{0};  // row writes in flight
  std::mutex mu_;
  absl::Status write_error_ ABSL_GUARDED_BY(mu_);
};

void CassandraMessageStore::SendMessage(const NewMessage& message, const CallOptions& options,
                                        Callback<SendResult> done) {
  if (absl::Status s = CheckCall(options.deadline, options.cancel.get()); !s.ok()) {
    return AnswerSoon<SendResult>(std::move(done), s);
  }
  std::make_shared<SendOp>(this, message, options, std::move(done))->Start();
}

// Instantiations used by cassandra_store_setup.cc.
template void CassandraMessageStore::AnswerSoon<size_t>(Callback<size_t>, absl::StatusOr<size_t>);

}  // namespace ds::storage
