// AccessLogWriter: the gateway's access log — an http::AccessObserver that
// turns each finished request into one JSON line (auth/access_log.h) and
// writes it to a file or to stdout ("-"), keeping a sampled fraction of
// ordinary lines at high rates (errors and unanswered requests always).
//
// Usage:
//   auto log = ds::gateway::AccessLogWriter::Open("-", /*sample=*/1.0);
//   http_options.access_observer = *log;
//
// Thread-safe: I/O threads call OnExchangeDone concurrently (spdlog's _mt sinks).
#pragma once

#include <spdlog/spdlog.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "auth/access_log.h"
#include "http/server.h"

namespace ds::gateway {

class AccessLogWriter final : public http::AccessObserver {
 public:
  // `path`: a file (appended to) or "-" for stdout.
  static absl::StatusOr<std::shared_ptr<AccessLogWriter>> Open(const std::string& path,
                                                               double sample_rate);
  // Lines go to `sink` (tests).
  AccessLogWriter(std::function<void(const std::string&)> sink, double sample_rate);

  void OnExchangeDone(const http::ExchangeRecord& record) override;

 private:
  std::function<void(const std::string&)> sink_;
  std::shared_ptr<spdlog::logger> logger_;
  const auth::AccessLogSampler sampler_;
};

}  // namespace ds::gateway
