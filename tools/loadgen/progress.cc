#include "tools/loadgen/progress.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace ds::loadgen {

namespace {

std::string HumanRate(double rps) {
  if (rps >= 1e6) return absl::StrFormat("%.1fM", rps / 1e6);
  if (rps >= 1e3) return absl::StrFormat("%.1fk", rps / 1e3);
  return absl::StrFormat("%.0f", rps);
}

}  // namespace

std::string RenderProgressLine(const Progress& p, const ProgressBar::Goal& goal, absl::Time now,
                               int width) {
  const bool started = p.start != absl::InfinitePast();
  const absl::Duration elapsed = started ? now - p.start : absl::ZeroDuration();
  double fraction = 0;
  bool draining = false;
  if (goal.requests > 0) {
    fraction = static_cast<double>(p.completed) / static_cast<double>(goal.requests);
  } else if (goal.duration > absl::ZeroDuration()) {
    fraction = absl::FDivDuration(elapsed, goal.duration);
    draining = fraction >= 1 && p.completed < p.issued;
  }
  fraction = std::clamp(fraction, 0.0, 1.0);
  const int filled = static_cast<int>(fraction * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(width - filled), '-');
  const double secs = absl::ToDoubleSeconds(elapsed);
  const double rps = secs > 0 ? static_cast<double>(p.completed) / secs : 0;
  std::string done = goal.requests > 0 ? absl::StrFormat("%d/%d done", p.completed, goal.requests)
                                       : absl::StrFormat("%d done, %d in flight", p.completed,
                                                         p.issued - p.completed);
  return absl::StrFormat("[%s] %3d%%  %s  %s req/s  %d errors%s", bar,
                         static_cast<int>(fraction * 100), done, HumanRate(rps), p.errors,
                         draining ? "  draining" : "");
}

ProgressBar::ProgressBar(const Runner* runner, Goal goal, FILE* out)
    : runner_(runner), goal_(goal), out_(out) {
  thread_ = std::thread([this] { Loop(); });
}

ProgressBar::~ProgressBar() { Stop(); }

void ProgressBar::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stop_.Notify();
  thread_.join();
  std::fputs("\r\x1b[2K", out_);  // erase the line
  std::fflush(out_);
}

void ProgressBar::Loop() {
  while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
    std::string line = RenderProgressLine(runner_->progress(), goal_, absl::Now(), 30);
    std::fprintf(out_, "\r\x1b[2K%s", line.c_str());
    std::fflush(out_);
  }
}

}  // namespace ds::loadgen
