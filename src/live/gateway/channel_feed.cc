#include "live/gateway/channel_feed.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "live/gateway/frames.h"

namespace ds::live {

namespace v1 = ::dataservice::v1;

// A catch-up page, encoded once for every client that reads it.
struct ChannelFeed::Page {
  absl::Time fetched;
  std::vector<FeedEntry> entries;  // ascending ids; in-order frames (position = id)
};

struct ChannelFeed::CatchUp {
  uint64_t id = 0;  // tells a page answer for a newer catch-up of a reused address apart
  std::shared_ptr<FeedClient> client;
  uint64_t after = 0;   // the resume id
  uint64_t cursor = 0;  // next page: ids above this
  size_t backlog = 0;
  absl::flat_hash_set<uint64_t> sent;
};

ChannelFeed::ChannelFeed(uint64_t channel, FeedOptions options, LiveUpstream* upstream,
                         FeedProbe* probe)
    : channel_(channel),
      options_(std::move(options)),
      window_ids_(WindowIds(options_.late_window)),
      upstream_(upstream),
      probe_(probe) {
  backoff_ = options_.retry_initial;
  last_client_ = last_event_ = absl::Now();
  next_heartbeat_ = absl::Now() + options_.heartbeat;
}

ChannelFeed::~ChannelFeed() {
  std::unique_ptr<UpstreamStream> old;
  {
    std::lock_guard lock(mu_);
    old = std::move(stream_);
    if (old && probe_) probe_->OnUpstream(-1);
  }
}

bool ChannelFeed::Join(std::shared_ptr<FeedClient> client, std::optional<uint64_t> after) {
  std::vector<uint64_t> reads;
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (!window_.has_value()) {
      waiting_.emplace_back(std::move(client), after);
      next_start_ = std::min(next_start_, absl::Now());
    } else {
      Admit(std::move(client), after);
    }
    reads.swap(reads_to_issue_);
  }
  IssueReads(std::move(reads));
  EnsureUpstream(absl::Now());
  return true;
}

void ChannelFeed::Admit(std::shared_ptr<FeedClient> client, std::optional<uint64_t> after) {
  if (!after.has_value()) {
    client->position = window_->position();
    client->OnJoined(channel_, client->position);
    live_.emplace(client.get(), std::move(client));
    return;
  }
  if (*after >= ring_floor_) {
    JoinFromRing(std::move(client), *after, nullptr);
    return;
  }
  auto cu = std::make_unique<CatchUp>();
  static std::atomic<uint64_t> catch_ups{0};
  cu->id = ++catch_ups;
  cu->after = *after;
  cu->cursor = *after > window_ids_ ? *after - window_ids_ : 0;
  client->position = *after;
  FeedClient* key = client.get();
  cu->client = std::move(client);
  const uint64_t cursor = cu->cursor;
  catching_up_[key] = std::move(cu);
  RequestPage(key, cursor);
}

void ChannelFeed::JoinFromRing(std::shared_ptr<FeedClient> client, uint64_t after,
                               const absl::flat_hash_set<uint64_t>* sent) {
  client->position = after;
  const uint64_t late_floor = after > window_ids_ ? after - window_ids_ : 0;
  FeedClient* key = client.get();
  for (const FeedEntry& e : ring_) {
    if (sent != nullptr && sent->contains(e.id)) continue;
    bool ok = true;
    if (e.late) {
      // It may have come after this client left: re-send (the client drops
      // ids it holds).
      if (e.id > late_floor) ok = client->OnEntry(channel_, e, client->position);
    } else if (e.id > client->position) {
      client->position = e.id;
      ok = client->OnEntry(channel_, e, client->position);
    }
    if (!ok) {
      if (probe_) probe_->OnDropped(absl::StatusCode::kResourceExhausted);
      client->OnDropped(channel_, absl::ResourceExhaustedError("client too slow for its backlog"));
      return;
    }
  }
  client->OnJoined(channel_, client->position);
  live_.emplace(key, std::move(client));
}

void ChannelFeed::RequestPage(FeedClient* client, uint64_t cursor) {
  auto cached = pages_.find(cursor);
  if (cached != pages_.end() && absl::Now() - cached->second->fetched < options_.page_cache_ttl) {
    if (probe_) probe_->OnCatchUpRead("cached");
    ContinueCatchUp(client, cached->second);
    return;
  }
  auto& waiters = reads_[cursor];
  waiters.emplace_back(client, catching_up_.at(client)->id);
  if (waiters.size() > 1) {
    if (probe_) probe_->OnCatchUpRead("joined");
    return;
  }
  if (probe_) probe_->OnCatchUpRead("upstream");
  reads_to_issue_.push_back(cursor);
}

void ChannelFeed::IssueReads(std::vector<uint64_t> cursors) {
  for (uint64_t cursor : cursors) {
    std::weak_ptr<ChannelFeed> weak = weak_from_this();
    upstream_->ReadAfter(channel_, cursor, options_.page_size, absl::Now() + options_.read_timeout,
                         [weak, cursor](absl::StatusOr<std::vector<v1::Message>> page) {
                           if (auto feed = weak.lock()) feed->OnPage(cursor, std::move(page));
                         });
  }
}

void ChannelFeed::OnPage(uint64_t cursor, absl::StatusOr<std::vector<v1::Message>> result) {
  absl::StatusOr<PagePtr> page = PagePtr();
  if (!result.ok()) {
    page = result.status();
  } else {
    auto p = std::make_shared<Page>();
    p->fetched = absl::Now();
    std::sort(result->begin(), result->end(),
              [](const auto& a, const auto& b) { return a.message_id() < b.message_id(); });
    for (const v1::Message& m : *result) p->entries.push_back(MakeEntry(m, false, m.message_id()));
    page = PagePtr(std::move(p));
  }
  std::vector<uint64_t> reads;
  {
    std::lock_guard lock(mu_);
    if (page.ok()) {
      pages_[cursor] = *page;
      while (pages_.size() > options_.page_cache) pages_.erase(pages_.begin());
    }
    auto node = reads_.extract(cursor);
    if (!node.empty()) {
      for (const auto& [client, id] : node.mapped()) {
        auto it = catching_up_.find(client);
        if (it != catching_up_.end() && it->second->id == id) ContinueCatchUp(client, page);
      }
    }
    reads.swap(reads_to_issue_);
  }
  IssueReads(std::move(reads));
}

void ChannelFeed::ContinueCatchUp(FeedClient* key, const absl::StatusOr<PagePtr>& page) {
  CatchUp& cu = *catching_up_.at(key);
  if (!page.ok()) {
    Drop(key,
         absl::UnavailableError(absl::StrCat("catch-up read failed: ", page.status().message())));
    return;
  }
  FeedClient& client = *cu.client;
  for (const FeedEntry& e : (*page)->entries) {
    cu.cursor = std::max(cu.cursor, e.id);
    bool ok = true;
    if (e.id <= cu.after) {
      // The window behind the resume id: re-send what the client may lack.
      if (window_.has_value() && !window_->MayHaveMissed(e.id)) continue;
      if (cu.sent.contains(e.id)) continue;
      FeedEntry replay = e;
      replay.late = true;
      replay.sse = replay.ws = nullptr;  // its frames depend on the client's position
      ok = client.OnEntry(channel_, replay, client.position);
    } else if (e.id > client.position) {
      if (++cu.backlog > options_.max_backlog) {
        Drop(key, absl::OutOfRangeError(
                      absl::StrCat("more than ", options_.max_backlog, " messages after ", cu.after,
                                   ": reload the latest messages and subscribe from the newest")));
        return;
      }
      client.position = e.id;
      ok = client.OnEntry(channel_, e, client.position);
    } else {
      continue;
    }
    if (!ok) {
      Drop(key, absl::ResourceExhaustedError("client too slow for its backlog"));
      return;
    }
    cu.sent.insert(e.id);
  }
  if ((*page)->entries.size() < options_.page_size || cu.cursor >= ring_floor_) {
    std::shared_ptr<FeedClient> c = std::move(cu.client);
    absl::flat_hash_set<uint64_t> sent = std::move(cu.sent);
    catching_up_.erase(key);
    const uint64_t position = c->position;
    JoinFromRing(std::move(c), position, &sent);
  } else {
    RequestPage(key, cu.cursor);
  }
}

void ChannelFeed::EnsureUpstream(absl::Time now) {
  std::optional<uint64_t> after;
  std::string avoid;
  uint64_t gen = 0;
  {
    std::lock_guard lock(mu_);
    if (closed_ || stream_ != nullptr || starting_ || now < next_start_) return;
    starting_ = true;
    gen = ++generation_;
    if (window_.has_value()) after = window_->position();
    avoid = avoid_;
  }
  std::weak_ptr<ChannelFeed> weak = weak_from_this();
  UpstreamEvents events{
      .on_message =
          [weak, gen](const v1::Message& m, bool late) {
            if (auto f = weak.lock()) f->OnMessage(gen, m, late);
          },
      .on_heartbeat =
          [weak, gen](uint64_t position, bool live) {
            if (auto f = weak.lock()) f->OnHeartbeat(gen, position);
          },
      .on_end =
          [weak, gen](const absl::Status& s) {
            if (auto f = weak.lock()) f->OnEnd(gen, s);
          },
  };
  std::unique_ptr<UpstreamStream> stream = upstream_->Subscribe(channel_, after, events, avoid);
  {
    std::lock_guard lock(mu_);
    starting_ = false;
    if (gen == generation_ && !closed_) {
      stream_ = std::move(stream);
      last_event_ = now;
      if (probe_) probe_->OnUpstream(1);
    }
  }
  // `stream` is empty, or ended already: destroyed here, outside the lock.
}

void ChannelFeed::OnMessage(uint64_t gen, const v1::Message& m, bool late) {
  std::lock_guard lock(mu_);
  if (gen != generation_ || closed_ || !window_.has_value()) return;
  last_event_ = absl::Now();
  const DeliveryWindow::Verdict v = window_->Offer(m.message_id(), late);
  if (v != DeliveryWindow::kInOrder && v != DeliveryWindow::kLate) return;
  if (probe_) probe_->OnUpstreamMessage(v == DeliveryWindow::kLate);
  ring_.push_back(MakeEntry(m, v == DeliveryWindow::kLate, window_->position()));
  while (ring_.size() > options_.ring_capacity) {
    if (!ring_.front().late) ring_floor_ = std::max(ring_floor_, ring_.front().id);
    ring_.pop_front();
  }
  const FeedEntry& entry = ring_.back();
  std::vector<FeedClient*> slow;
  for (auto& [key, client] : live_) {
    if (!Send(*client, entry)) slow.push_back(key);
  }
  if (probe_) probe_->OnFanOut(live_.size());
  for (FeedClient* key : slow) {
    Drop(key, absl::ResourceExhaustedError(
                  "slow client: its queue is full; resume from the last event id"));
  }
}

bool ChannelFeed::Send(FeedClient& client, const FeedEntry& entry) {
  if (!entry.late) {
    if (entry.id <= client.position) return true;  // it has it (joined ahead of the feed)
    client.position = entry.id;
  }
  return client.OnEntry(channel_, entry, client.position);
}

void ChannelFeed::OnHeartbeat(uint64_t gen, uint64_t position) {
  std::vector<uint64_t> reads;
  {
    std::lock_guard lock(mu_);
    if (gen != generation_ || closed_) return;
    last_event_ = absl::Now();
    backoff_ = options_.retry_initial;
    avoid_.clear();
    if (!window_.has_value()) {
      window_.emplace(position, window_ids_);
      ring_floor_ = position;
      auto waiting = std::move(waiting_);
      waiting_.clear();
      for (auto& [client, after] : waiting) Admit(std::move(client), after);
    }
    reads.swap(reads_to_issue_);
  }
  IssueReads(std::move(reads));
}

void ChannelFeed::OnEnd(uint64_t gen, const absl::Status& status) {
  std::unique_ptr<UpstreamStream> old;
  {
    std::lock_guard lock(mu_);
    if (gen != generation_) return;
    ++generation_;
    old = std::move(stream_);
    if (old && probe_) probe_->OnUpstream(-1);
    if (closed_) return;
    const absl::Time now = absl::Now();
    if (status.code() == absl::StatusCode::kOutOfRange) {
      // The channel moved on further than a node will replay: every client
      // must reload; the feed starts again from the newest message.
      DropAll(absl::OutOfRangeError(
          absl::StrCat("live stream lost its place (", status.message(), "): reload")));
      window_.reset();
      ring_.clear();
      ring_floor_ = 0;
      pages_.clear();
      next_start_ = now;
    } else {
      next_start_ = now + backoff_;
      backoff_ = std::min(backoff_ * 2, options_.retry_max);
      if (old != nullptr && status.code() != absl::StatusCode::kCancelled) {
        avoid_ = old->node();
        failed_node_ = old->node();
        failed_at_ = now;
      }
      if (probe_) probe_->OnResubscribe("failover");
    }
  }
}

bool ChannelFeed::Tick(absl::Time now) {
  std::unique_ptr<UpstreamStream> old;
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (!HasClients() && now - last_client_ >= options_.linger) {
      closed_ = true;
      ++generation_;
      old = std::move(stream_);
      if (old && probe_) probe_->OnUpstream(-1);
    } else {
      if (now >= next_heartbeat_) {
        for (auto& [key, client] : live_) client->OnHeartbeat();
        for (auto& [key, cu] : catching_up_) cu->client->OnHeartbeat();
        for (auto& [client, after] : waiting_) client->OnHeartbeat();
        next_heartbeat_ = now + options_.heartbeat;
      }
      const char* reason = nullptr;
      if (stream_ != nullptr && now - last_event_ > options_.stale_after) {
        reason = "stale";
      } else if (stream_ != nullptr && window_.has_value()) {
        const std::string owner = upstream_->OwnerOf(channel_);
        const bool recently_failed =
            owner == failed_node_ && now - failed_at_ < options_.stale_after;
        if (!owner.empty() && owner != stream_->node() && !recently_failed) reason = "moved";
      }
      if (reason != nullptr) {
        ++generation_;
        old = std::move(stream_);
        if (probe_) {
          probe_->OnUpstream(-1);
          probe_->OnResubscribe(reason);
        }
        next_start_ = now;
        avoid_.clear();
      }
    }
  }
  old.reset();  // cancels it, outside the lock
  EnsureUpstream(now);
  std::lock_guard lock(mu_);
  return !closed_;
}

void ChannelFeed::Leave(FeedClient* client) {
  std::lock_guard lock(mu_);
  bool found = live_.erase(client) > 0 || catching_up_.erase(client) > 0;
  if (!found) {
    auto it = std::find_if(waiting_.begin(), waiting_.end(),
                           [client](const auto& w) { return w.first.get() == client; });
    if (it != waiting_.end()) waiting_.erase(it);
  }
  if (!HasClients()) last_client_ = absl::Now();
}

void ChannelFeed::Drop(FeedClient* key, const absl::Status& why) {
  std::shared_ptr<FeedClient> client;
  if (auto it = live_.find(key); it != live_.end()) {
    client = std::move(it->second);
    live_.erase(it);
  } else if (auto c = catching_up_.find(key); c != catching_up_.end()) {
    client = std::move(c->second->client);
    catching_up_.erase(c);
  } else {
    auto w = std::find_if(waiting_.begin(), waiting_.end(),
                          [key](const auto& e) { return e.first.get() == key; });
    if (w == waiting_.end()) return;
    client = std::move(w->first);
    waiting_.erase(w);
  }
  if (probe_) probe_->OnDropped(why.code());
  client->OnDropped(channel_, why);
  if (!HasClients()) last_client_ = absl::Now();
}

void ChannelFeed::DropAll(const absl::Status& why) {
  std::vector<FeedClient*> all;
  for (auto& [key, client] : live_) all.push_back(key);
  for (auto& [key, cu] : catching_up_) all.push_back(key);
  for (auto& [client, after] : waiting_) all.push_back(client.get());
  for (FeedClient* key : all) Drop(key, why);
}

void ChannelFeed::Close(const absl::Status& why) {
  std::unique_ptr<UpstreamStream> old;
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    DropAll(why);
    ++generation_;
    old = std::move(stream_);
    if (old && probe_) probe_->OnUpstream(-1);
  }
}

bool ChannelFeed::HasClients() const {
  return !live_.empty() || !catching_up_.empty() || !waiting_.empty();
}

size_t ChannelFeed::clients() const {
  std::lock_guard lock(mu_);
  return live_.size() + catching_up_.size() + waiting_.size();
}

uint64_t ChannelFeed::position() const {
  std::lock_guard lock(mu_);
  return window_.has_value() ? window_->position() : 0;
}

FeedEntry ChannelFeed::MakeEntry(const v1::Message& m, bool late, uint64_t position) const {
  FeedEntry e;
  e.id = m.message_id();
  e.late = late;
  e.position = position;
  e.json = std::make_shared<const std::string>(MessageJson(m));
  e.sse = std::make_shared<const std::string>(SseMessageFrame(position, *e.json, late));
  e.ws = std::make_shared<const std::string>(WsMessageFrame(channel_, position, *e.json, late));
  return e;
}

}  // namespace ds::live
