// ProgressBar: a one-line progress display on stderr while a run is going,
// redrawn in place with '\r' ten times a second, erased when the run ends.
// Only for terminals: main.cc creates it when stderr is a TTY and neither
// --quiet nor --no-progress was given.
//
//   [##########----------]  51%  5100/10000 done  12.3k req/s  0 errors
//
// Usage:
//   ProgressBar bar(&runner, ProgressBar::Goal{.requests = 10000}, stderr);
//   RunResult result = runner.Run();
//   bar.Stop();   // joins the drawing thread and clears the line
//
// Threading: the bar owns one thread that polls Runner::progress(); Stop()
// (or the destructor) is called from the thread that created it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "tools/loadgen/runner.h"

namespace ds::loadgen {

class ProgressBar {
 public:
  // What "done" means: a request count (burst) or a duration (closed, open).
  struct Goal {
    int64_t requests = 0;
    absl::Duration duration = absl::ZeroDuration();
  };

  ProgressBar(const Runner* runner, Goal goal, FILE* out);
  ~ProgressBar();
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void Stop();

 private:
  void Loop();

  const Runner* runner_;
  Goal goal_;
  FILE* out_;
  absl::Notification stop_;
  std::thread thread_;
  bool stopped_ = false;
};

// The text of one progress line (no '\r', no newline), `width` cells of bar.
// Burst: fraction = completed / goal.requests. Duration modes: fraction =
// elapsed / goal.duration, then "draining" once the time is up.
std::string RenderProgressLine(const Progress& p, const ProgressBar::Goal& goal, absl::Time now,
                               int width);

}  // namespace ds::loadgen
