#include "metrics/admin_handler.h"

#include <exception>
#include <string>
#include <string_view>

#include "common/log.h"
#include "prometheus/text_serializer.h"

namespace ds::metrics {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

std::string_view PathOf(const http::Request& request) {
  const std::string_view target(request.target().data(), request.target().size());
  return target.substr(0, target.find('?'));
}

http::Response Text(int status, std::string body) {
  http::Response r(status);
  r.SetStaticHeader("Content-Type", "text/plain");
  r.SetBody(std::move(body));
  return r;
}

}  // namespace

bool AdminRoutes::Matches(const http::Request& request) {
  const std::string_view path = PathOf(request);
  return path == "/metrics" || path == "/healthz";
}

std::optional<http::Response> AdminRoutes::Serve(const http::Request& request) const {
  if (!Matches(request)) return std::nullopt;
  if (request.method() != boost::beast::http::verb::get) {
    http::Response r = Text(405, "method not allowed\n");
    r.SetStaticHeader("Allow", "GET");
    return r;
  }
  if (PathOf(request) == "/healthz") {
    bool healthy = true;
    try {
      healthy = healthy_ == nullptr || healthy_();
    } catch (const std::exception&) {
      healthy = false;
    }
    return healthy ? Text(200, "ok\n") : Text(503, "unhealthy\n");
  }
  try {
    http::Response r(200);
    r.SetStaticHeader("Content-Type", kMetricsContentType);
    r.SetBody(prometheus::TextSerializer().Serialize(registry_->Collect()));
    return r;
  } catch (const std::exception& e) {
    static const std::shared_ptr<spdlog::logger> log = ds::Logger("metrics");
    log->error("metrics collection failed: {}", e.what());
    return Text(500, "internal error\n");
  }
}

}  // namespace ds::metrics
