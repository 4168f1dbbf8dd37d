// An HTTP endpoint serving a service's Prometheus metrics (docs/design.md §14).
//
// A MetricsServer serves, on GET /metrics, the Registry it is given plus a ProcessCollector
// labelled with the service, in Prometheus' text format, from the admin HTTP server's one io
// thread (common/admin; prometheus-cpp's civetweb exposer cannot start its threads in a process
// that also loads LibTorch, whose static TLS exceeds civetweb's fixed thread stacks). It holds
// the registry by shared_ptr because scrapes run on that thread; components record into the
// Registry (thread-safe) through a reference. Neither copyable nor movable; the destructor
// stops the HTTP thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <prometheus/registry.h>

#include "common/base/status.h"

namespace towerstream::admin {
class AdminServer;
}

namespace towerstream::metrics {

// Default --metrics-address of each service (a fixed port per service so that one machine can
// run them side by side and dashboards know where to scrape).
inline constexpr std::string_view kReplayAddress = "127.0.0.1:9401";
inline constexpr std::string_view kIngestAddress = "127.0.0.1:9402";
inline constexpr std::string_view kTrainerAddress = "127.0.0.1:9403";

struct MetricsServerOptions {
  // HOST:PORT to listen on; port 0 picks a free port (tests), read it back with port().
  // 127.0.0.1 keeps metrics off the network; 0.0.0.0 lets a remote Prometheus scrape.
  std::string address = std::string(kReplayAddress);
  // Value of the `service` label on the process metrics ("replay", "ingest", "trainer").
  std::string service;

  Status Validate() const;
};

class MetricsServer {
 public:
  // Binds options.address and starts serving `registry`. Fails with Unavailable naming the
  // address when it cannot be bound (port taken, bad host).
  static Result<std::unique_ptr<MetricsServer>> Start(
      const MetricsServerOptions& options, std::shared_ptr<prometheus::Registry> registry);

  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port actually bound (the chosen one when the address said port 0).
  int port() const { return port_; }
  // "HOST:PORT" with the bound port, for log lines and scrape configs.
  const std::string& address() const { return address_; }

 private:
  MetricsServer() = default;

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<prometheus::Collectable> process_;
  std::string address_;
  int port_ = 0;
  // Declared last: destroyed first, so no scrape runs while the collectables go away.
  std::unique_ptr<admin::AdminServer> http_;
};

// The --metrics-address convention of the services: an empty `address` disables metrics
// (nullptr, no error); otherwise a MetricsServer for `service` listening on it.
Result<std::unique_ptr<MetricsServer>> StartMetricsServer(
    std::string_view address, std::string_view service,
    std::shared_ptr<prometheus::Registry> registry);

// Splits "HOST:PORT" (HOST may be "[::1]" for IPv6); errors name the address and the problem.
struct HostPort {
  std::string host;
  int port = 0;
};
Result<HostPort> ParseHostPort(std::string_view address);

}  // namespace towerstream::metrics
