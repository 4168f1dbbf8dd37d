// MetricsServer: /metrics in Prometheus text format over the admin HTTP server.
#include "common/metrics/metrics_server.h"

#include <charconv>
#include <exception>
#include <utility>

#include <prometheus/text_serializer.h>

#include "common/admin/admin_server.h"

#include "common/metrics/process_collector.h"

namespace towerstream::metrics {

Result<HostPort> ParseHostPort(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Status::InvalidArgument("metrics address '" + std::string(address) +
                                   "': expected HOST:PORT, e.g. 127.0.0.1:9401");
  }
  HostPort result;
  result.host = std::string(address.substr(0, colon));
  const std::string_view port = address.substr(colon + 1);
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), result.port);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || result.port < 0 ||
      result.port > 65535) {
    return Status::InvalidArgument("metrics address '" + std::string(address) + "': port '" +
                                   std::string(port) + "' is not a number in 0..65535");
  }
  return result;
}

Status MetricsServerOptions::Validate() const {
  TS_RETURN_IF_ERROR(ParseHostPort(address).status());
  if (service.empty()) return Status::InvalidArgument("metrics server: empty service name");
  return Status::Ok();
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const MetricsServerOptions& options, std::shared_ptr<prometheus::Registry> registry) {
  TS_RETURN_IF_ERROR(options.Validate());
  if (registry == nullptr) return Status::InvalidArgument("metrics server: null registry");
  TS_ASSIGN_OR_RETURN(HostPort host_port, ParseHostPort(options.address));
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->registry_ = std::move(registry);
  server->process_ = std::make_shared<ProcessCollector>(options.service);
  admin::AdminServerOptions http;
  http.address = options.address;
  http.require_token_beyond_loopback = false;  // read-only, and scrapers send no token
  MetricsServer* raw = server.get();
  Result<std::unique_ptr<admin::AdminServer>> started = admin::AdminServer::Start(
      http, [raw](const admin::AdminRequest& request, admin::Reply reply) {
        if (request.path != "/metrics") {
          reply({404, "text/plain; charset=utf-8", "towerstream metrics are at /metrics\n"});
          return;
        }
        if (request.method != "GET" && request.method != "HEAD") {
          reply({405, "text/plain; charset=utf-8", "/metrics takes GET\n"});
          return;
        }
        std::vector<prometheus::MetricFamily> families = raw->registry_->Collect();
        for (prometheus::MetricFamily& f : raw->process_->Collect())
          families.push_back(std::move(f));
        reply({200, "text/plain; version=0.0.4; charset=utf-8",
               prometheus::TextSerializer().Serialize(families)});
      });
  if (!started.ok()) {
    return Status::Unavailable("metrics server: cannot listen on " + options.address + ": " +
                               started.status().message());
  }
  server->http_ = std::move(started).value();
  server->port_ = server->http_->port();
  server->address_ = host_port.host + ":" + std::to_string(server->port_);
  return server;
}

MetricsServer::~MetricsServer() = default;

Result<std::unique_ptr<MetricsServer>> StartMetricsServer(
    std::string_view address, std::string_view service,
    std::shared_ptr<prometheus::Registry> registry) {
  if (address.empty()) return std::unique_ptr<MetricsServer>();
  MetricsServerOptions options;
  options.address = std::string(address);
  options.service = std::string(service);
  return MetricsServer::Start(options, std::move(registry));
}

}  // namespace towerstream::metrics
