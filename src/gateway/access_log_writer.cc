#include "gateway/access_log_writer.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "absl/strings/str_cat.h"

namespace ds::gateway {

absl::StatusOr<std::shared_ptr<AccessLogWriter>> AccessLogWriter::Open(const std::string& path,
                                                                       double sample_rate) {
  std::shared_ptr<spdlog::logger> logger;
  try {
    if (path == "-") {
      logger = std::make_shared<spdlog::logger>("access",
                                                std::make_shared<spdlog::sinks::stdout_sink_mt>());
    } else {
      logger = std::make_shared<spdlog::logger>(
          "access", std::make_shared<spdlog::sinks::basic_file_sink_mt>(path));
    }
  } catch (const spdlog::spdlog_ex& e) {
    return absl::InvalidArgumentError(absl::StrCat("access log ", path, ": ", e.what()));
  }
  logger->set_pattern("%v");
  logger->flush_on(spdlog::level::info);
  auto writer = std::make_shared<AccessLogWriter>(nullptr, sample_rate);
  writer->logger_ = std::move(logger);
  return writer;
}

AccessLogWriter::AccessLogWriter(std::function<void(const std::string&)> sink, double sample_rate)
    : sink_(std::move(sink)), sampler_(sample_rate) {}

void AccessLogWriter::OnExchangeDone(const http::ExchangeRecord& r) {
  const std::string client = absl::StrCat(r.peer.address().to_string(), ":", r.peer.port());
  const std::string_view target = r.target.substr(0, r.target.find('?'));
  auth::AccessRecord record{
      .time = r.received,
      .request_id = r.notes.request_id,
      .principal = r.notes.principal,
      .client = client,
      .method = r.method,
      // Without a route template (no security layer, or a malformed request)
      // the path stands in; the query string never goes to the log (tokens).
      .route = r.notes.route.empty() ? target : std::string_view(r.notes.route),
      .channel = r.notes.channel,
      .status = r.status,
      .bytes = r.body_bytes,
      .latency = r.latency,
      .upstream = r.notes.upstream,
      .coalesced = r.notes.coalesced,
  };
  if (!sampler_.Keep(record)) return;
  const std::string line = auth::FormatAccessLine(record);
  if (sink_) return sink_(line);
  logger_->info(line);
}

}  // namespace ds::gateway
