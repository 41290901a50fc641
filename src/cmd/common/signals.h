// The binaries' stop signals: blocked in every thread and taken by sigwait()
// on the main thread.
//
// Usage (in main, before any thread starts, so every thread inherits the mask):
//   const sigset_t signals = ds::BlockSignals({SIGTERM, SIGINT});
//   ... start servers ...
//   int sig = 0;
//   sigwait(&signals, &sig);
#pragma once

#include <signal.h>

#include <initializer_list>

namespace ds {

// Blocks `signals` in the calling thread and returns them as a set.
sigset_t BlockSignals(std::initializer_list<int> signals);

}  // namespace ds
