// MetricsServer: binds a prometheus::Exposer and registers the registry and process metrics.
#include "common/metrics/metrics_server.h"

#include <charconv>
#include <exception>
#include <utility>

#include <prometheus/exposer.h>

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
  if (threads < 1) {
    return Status::InvalidArgument("metrics server: threads must be >= 1, got " +
                                   std::to_string(threads));
  }
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
  try {
    // civetweb throws when it cannot bind; its message says little, so name the address.
    server->exposer_ = std::make_unique<prometheus::Exposer>(options.address,
                                                             static_cast<size_t>(options.threads));
  } catch (const std::exception& e) {
    return Status::Unavailable("metrics server: cannot listen on " + options.address + ": " +
                               e.what());
  }
  server->exposer_->RegisterCollectable(server->registry_);
  server->exposer_->RegisterCollectable(server->process_);
  const std::vector<int> ports = server->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return Status::Internal("metrics server: listening on " + options.address +
                            " but no bound port reported");
  }
  server->port_ = ports.front();
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
