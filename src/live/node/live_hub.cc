#include "live/node/live_hub.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace ds::live {

struct LiveHub::Sub {
  SubscriptionId id = 0;
  uint64_t channel = 0;
  std::shared_ptr<StreamSink> sink;
  std::optional<uint64_t> resume;        // the resume id, if any
  std::optional<DeliveryWindow> window;  // set once the start position is known
  uint64_t cursor = 0;                   // catch-up: read after this id next
  size_t backlog = 0;                    // catch-up messages above the resume id
  bool live = false;
  bool ended = false;
  // Live events that arrived while catching up: (message, marked late).
  std::vector<std::pair<storage::Message, bool>> buffer;
};

struct LiveHub::Channel {
  uint64_t id = 0;
  std::vector<std::shared_ptr<Sub>> subs;
  // The channel's live event sequence; set when its first stream goes live.
  std::optional<DeliveryWindow> window;
  bool poll_in_flight = false;
  bool poll_again = false;
  absl::Time next_poll = absl::InfinitePast();
};

namespace {
void SortAscending(std::vector<storage::Message>& page) {
  std::sort(page.begin(), page.end(),
            [](const auto& a, const auto& b) { return a.message_id < b.message_id; });
}
}  // namespace

LiveHub::LiveHub(HubOptions options, PageReader reader, HubProbe* probe)
    : options_(std::move(options)),
      window_(WindowIds(options_.late_window)),
      reader_(std::move(reader)),
      probe_(probe) {
  next_heartbeat_ = absl::Now() + options_.heartbeat_interval;
  thread_ = std::thread([this] { Run(); });
}

LiveHub::~LiveHub() { Stop(absl::UnavailableError("node shutting down")); }

absl::StatusOr<LiveHub::SubscriptionId> LiveHub::Subscribe(uint64_t channel,
                                                           std::optional<uint64_t> after,
                                                           std::shared_ptr<StreamSink> sink) {
  auto sub = std::make_shared<Sub>();
  bool read_head = false;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return absl::UnavailableError("node shutting down");
    if (subs_.size() >= options_.max_subscribers) {
      return absl::ResourceExhaustedError(
          absl::StrCat("node has ", subs_.size(), " subscribers (max_subscribers)"));
    }
    sub->id = next_id_++;
    sub->channel = channel;
    sub->sink = std::move(sink);
    sub->resume = after;
    auto& slot = channels_[channel];
    if (slot == nullptr) {
      slot = std::make_unique<Channel>();
      slot->id = channel;
      if (probe_) probe_->OnChannels(1);
    }
    Channel& ch = *slot;
    ch.subs.push_back(sub);
    subs_.emplace(sub->id, sub);
    if (probe_) probe_->OnSubscribers(1);
    // Every stream opens with a heartbeat carrying its start position.
    if (after.has_value()) {
      sub->window.emplace(*after, window_);
      sub->cursor = *after > window_ ? *after - window_ : 0;
      sub->sink->OnHeartbeat(*after, false);
    } else if (ch.window.has_value()) {
      sub->window.emplace(ch.window->position(), window_);
      sub->sink->OnHeartbeat(ch.window->position(), false);
      GoLive(ch, *sub);
      return sub->id;
    } else {
      read_head = true;
    }
    ++reads_in_flight_;
  }
  if (read_head) {
    ReadHead(sub);
  } else {
    ReadPage(sub);
  }
  return sub->id;
}

void LiveHub::ReadHead(std::shared_ptr<Sub> sub) {
  reader_(sub->channel, std::nullopt, 1, ReadPurpose::kHead,
          [this, sub](absl::StatusOr<std::vector<storage::Message>> page) {
            std::lock_guard lock(mu_);
            ReadDone();
            if (sub->ended) return;
            if (!page.ok()) {
              End(*sub, page.status());
            } else {
              uint64_t head = 0;
              for (const auto& m : *page) head = std::max(head, m.message_id);
              sub->window.emplace(head, window_);
              sub->sink->OnHeartbeat(head, false);
              if (auto it = channels_.find(sub->channel); it != channels_.end()) {
                GoLive(*it->second, *sub);
              }
            }
            Sweep(sub->channel);
          });
}

void LiveHub::ReadPage(std::shared_ptr<Sub> sub) {
  reader_(sub->channel, sub->cursor, options_.page_size, ReadPurpose::kCatchUp,
          [this, sub](absl::StatusOr<std::vector<storage::Message>> page) {
            OnPage(sub, std::move(page));
          });
}

void LiveHub::OnPage(std::shared_ptr<Sub> sub, absl::StatusOr<std::vector<storage::Message>> page) {
  {
    std::lock_guard lock(mu_);
    ReadDone();
    if (sub->ended) return;
    auto it = channels_.find(sub->channel);
    if (!page.ok() || it == channels_.end()) {
      End(*sub, page.ok() ? absl::UnavailableError("channel state lost") : page.status());
      Sweep(sub->channel);
      return;
    }
    Channel& ch = *it->second;
    SortAscending(*page);
    for (const storage::Message& m : *page) {
      sub->cursor = std::max(sub->cursor, m.message_id);
      bool marked_late = false;
      if (m.message_id <= *sub->resume) {
        // The window behind the resume id: re-send only what a receiver at
        // the resume id may lack.
        if (ch.window.has_value() && !ch.window->MayHaveMissed(m.message_id)) continue;
        marked_late = true;
      } else if (++sub->backlog > options_.max_backlog) {
        End(*sub, absl::OutOfRangeError(absl::StrCat(
                      "more than ", options_.max_backlog, " messages after ", *sub->resume,
                      ": reload the latest page with GetMessages and subscribe from it")));
        break;
      }
      if (!Offer(*sub, m, marked_late)) break;
    }
    if (!sub->ended && page->size() < options_.page_size) GoLive(ch, *sub);
    if (sub->ended || sub->live) {
      Sweep(sub->channel);
      return;
    }
    ++reads_in_flight_;
  }
  ReadPage(std::move(sub));
}

void LiveHub::GoLive(Channel& ch, Sub& sub) {
  for (const auto& [m, late] : sub.buffer) {
    if (!Offer(sub, m, late)) break;
  }
  sub.buffer.clear();
  sub.buffer.shrink_to_fit();
  if (sub.ended) return;
  sub.live = true;
  if (!ch.window.has_value()) {
    ch.window = sub.window;
    ch.next_poll = absl::Now() + options_.poll_interval;
    wake_.notify_all();
  }
  sub.sink->OnHeartbeat(sub.window->position(), true);
}

bool LiveHub::Offer(Sub& sub, const storage::Message& m, bool marked_late) {
  const DeliveryWindow::Verdict v = sub.window->Offer(m.message_id, marked_late);
  if (v != DeliveryWindow::kInOrder && v != DeliveryWindow::kLate) return true;
  if (!sub.sink->OnMessage(m, v == DeliveryWindow::kLate)) {
    End(sub, absl::ResourceExhaustedError("subscriber reads too slowly: resubscribe"));
    return false;
  }
  return true;
}

void LiveHub::Deliver(Channel& ch, const storage::Message& m, bool marked_late) {
  bool late = marked_late;
  if (ch.window.has_value()) {
    const DeliveryWindow::Verdict v = ch.window->Offer(m.message_id, marked_late);
    if (v != DeliveryWindow::kInOrder && v != DeliveryWindow::kLate) return;
    late = v == DeliveryWindow::kLate;
  }
  size_t sent = 0;
  for (const auto& sub : ch.subs) {
    if (sub->ended) continue;
    if (!sub->live) {
      if (sub->buffer.size() >= options_.max_buffered) {
        End(*sub, absl::ResourceExhaustedError("too many live messages during catch-up"));
      } else {
        sub->buffer.emplace_back(m, late);
      }
      continue;
    }
    if (Offer(*sub, m, late)) ++sent;
  }
  if (probe_ && sent > 0) probe_->OnDelivered(late, sent);
}

void LiveHub::Publish(const storage::Message& message) {
  std::lock_guard lock(mu_);
  auto it = channels_.find(message.channel_id);
  if (it == channels_.end()) return;
  Deliver(*it->second, message, false);
  Sweep(message.channel_id);
}

void LiveHub::Poke(uint64_t channel) {
  std::lock_guard lock(mu_);
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  if (it->second->poll_in_flight) {
    it->second->poll_again = true;
  } else {
    it->second->next_poll = absl::InfinitePast();
    wake_.notify_all();
  }
}

void LiveHub::End(Sub& sub, const absl::Status& status) {
  if (sub.ended) return;
  sub.ended = true;
  sub.sink->OnEnd(status);
  if (probe_) probe_->OnStreamEnded(status.code());
}

void LiveHub::Sweep(uint64_t channel) {
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  auto& subs = it->second->subs;
  for (auto s = subs.begin(); s != subs.end();) {
    if ((*s)->ended) {
      subs_.erase((*s)->id);
      if (probe_) probe_->OnSubscribers(-1);
      s = subs.erase(s);
    } else {
      ++s;
    }
  }
  if (subs.empty()) {
    channels_.erase(it);
    if (probe_) probe_->OnChannels(-1);
  }
}

void LiveHub::Unsubscribe(SubscriptionId id) {
  std::lock_guard lock(mu_);
  auto it = subs_.find(id);
  if (it == subs_.end()) return;
  it->second->ended = true;  // no OnEnd: the caller ended it
  Sweep(it->second->channel);
}

void LiveHub::ReadDone() {
  if (--reads_in_flight_ == 0) idle_.notify_all();
}

void LiveHub::Run() {
  std::unique_lock lock(mu_);
  while (!stopped_) {
    const absl::Time now = absl::Now();
    std::vector<std::pair<uint64_t, uint64_t>> polls;  // (channel, after)
    absl::Time next = now + options_.poll_interval;
    for (auto& [id, ch] : channels_) {
      if (!ch->window.has_value() || ch->poll_in_flight) continue;
      if (ch->next_poll <= now) {
        ch->poll_in_flight = true;
        polls.emplace_back(id, ch->window->floor());
        ++reads_in_flight_;
      } else {
        next = std::min(next, ch->next_poll);
      }
    }
    if (next_heartbeat_ <= now) {
      for (auto& [id, sub] : subs_) {
        if (sub->live && !sub->ended) sub->sink->OnHeartbeat(sub->window->position(), true);
      }
      next_heartbeat_ = now + options_.heartbeat_interval;
    }
    next = std::min(next, next_heartbeat_);
    if (!polls.empty()) {
      lock.unlock();
      const int pages = static_cast<int>(options_.max_backlog / options_.page_size) + 1;
      for (const auto& [channel, after] : polls) Poll(channel, after, pages, {});
      lock.lock();
      continue;
    }
    wake_.wait_for(lock, absl::ToChronoNanoseconds(next - now));
  }
}

void LiveHub::Poll(uint64_t channel, uint64_t after, int pages_left,
                   std::vector<storage::Message> acc) {
  reader_(channel, after, options_.page_size, ReadPurpose::kTail,
          [this, channel, pages_left,
           acc = std::move(acc)](absl::StatusOr<std::vector<storage::Message>> page) mutable {
            if (page.ok()) {
              uint64_t last = 0;
              for (auto& m : *page) {
                last = std::max(last, m.message_id);
                acc.push_back(std::move(m));
              }
              if (page->size() >= options_.page_size && pages_left > 1) {
                Poll(channel, last, pages_left - 1, std::move(acc));
                return;
              }
              OnPollDone(channel, std::move(acc));
            } else {
              OnPollDone(channel, page.status());
            }
          });
}

void LiveHub::OnPollDone(uint64_t channel, absl::StatusOr<std::vector<storage::Message>> result) {
  std::lock_guard lock(mu_);
  ReadDone();
  auto it = channels_.find(channel);
  if (it == channels_.end()) return;
  Channel& ch = *it->second;
  ch.poll_in_flight = false;
  // A failed read is retried at the next interval; streams stay up (their
  // heartbeats go on) and writes acknowledged here still arrive at once.
  ch.next_poll = ch.poll_again ? absl::InfinitePast() : absl::Now() + options_.poll_interval;
  ch.poll_again = false;
  if (ch.next_poll == absl::InfinitePast()) wake_.notify_all();
  if (!result.ok()) return;
  SortAscending(*result);
  for (const auto& m : *result) Deliver(ch, m, false);
  Sweep(channel);
}

void LiveHub::Stop(const absl::Status& status) {
  {
    std::unique_lock lock(mu_);
    if (!stopped_) {
      stopped_ = true;
      std::vector<uint64_t> channels;
      for (auto& [id, sub] : subs_) End(*sub, status);
      for (auto& [id, ch] : channels_) channels.push_back(id);
      for (uint64_t c : channels) Sweep(c);
      wake_.notify_all();
    }
  }
  if (thread_.joinable()) thread_.join();
  std::unique_lock lock(mu_);
  idle_.wait(lock, [this] { return reads_in_flight_ == 0; });
}

size_t LiveHub::subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

size_t LiveHub::channels() const {
  std::lock_guard lock(mu_);
  return channels_.size();
}

}  // namespace ds::live
