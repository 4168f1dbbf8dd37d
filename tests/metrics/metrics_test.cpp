// Tests of ts_metrics: address parsing, serving a registry over HTTP, process metrics, naming.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "common/metrics/metrics_server.h"
#include "common/metrics/naming.h"
#include "common/metrics/process_collector.h"
#include "tests/metrics/http_get.h"

namespace towerstream::metrics {
namespace {

TEST(ParseHostPortTest, SplitsHostAndPort) {
  struct Case {
    std::string address;
    std::string host;
    int port;
  };
  for (const Case& c :
       {Case{"127.0.0.1:9401", "127.0.0.1", 9401}, Case{"0.0.0.0:0", "0.0.0.0", 0},
        Case{"[::1]:80", "[::1]", 80}, Case{"localhost:65535", "localhost", 65535}}) {
    Result<HostPort> parsed = ParseHostPort(c.address);
    ASSERT_TRUE(parsed.ok()) << c.address << ": " << parsed.status().ToString();
    EXPECT_EQ(parsed->host, c.host) << c.address;
    EXPECT_EQ(parsed->port, c.port) << c.address;
  }
}

TEST(ParseHostPortTest, RejectsMalformedAddresses) {
  for (const std::string address :
       {"", "9401", ":9401", "host:", "host:abc", "host:65536", "host:-1", "host:12x"}) {
    EXPECT_FALSE(ParseHostPort(address).ok()) << "'" << address << "'";
  }
}

TEST(MetricsServerOptionsTest, RequiresServiceName) {
  MetricsServerOptions options;
  EXPECT_FALSE(options.Validate().ok());
  options.service = "replay";
  EXPECT_TRUE(options.Validate().ok());
}

class MetricsServerTest : public ::testing::Test {
 protected:
  std::unique_ptr<MetricsServer> StartOnFreePort(std::shared_ptr<prometheus::Registry> registry) {
    MetricsServerOptions options;
    options.address = "127.0.0.1:0";
    options.service = "test";
    Result<std::unique_ptr<MetricsServer>> server = MetricsServer::Start(options, registry);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return server.ok() ? std::move(server).value() : nullptr;
  }
};

TEST_F(MetricsServerTest, ReportsTheEphemeralPortItBound) {
  auto server = StartOnFreePort(std::make_shared<prometheus::Registry>());
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->port(), 0);
  EXPECT_EQ(server->address(), "127.0.0.1:" + std::to_string(server->port()));
}

TEST_F(MetricsServerTest, ServesRegistryCountersOverHttp) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("towerstream_test_events_total")
      .Help("test")
      .Register(*registry)
      .Add({{"service", "test"}, {"topic", "hm.x"}})
      .Increment(42);
  auto server = StartOnFreePort(registry);
  ASSERT_NE(server, nullptr);
  Result<std::string> body = testing::HttpGet(server->port());
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_NE(body->find("towerstream_test_events_total{service=\"test\",topic=\"hm.x\"} 42"),
            std::string::npos)
      << *body;
}

TEST_F(MetricsServerTest, ServesProcessMetricsWithServiceLabel) {
  auto server = StartOnFreePort(std::make_shared<prometheus::Registry>());
  ASSERT_NE(server, nullptr);
  Result<std::string> body = testing::HttpGet(server->port());
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  EXPECT_NE(body->find(std::string(kProcessCpuSecondsTotal) + "{service=\"test\"}"),
            std::string::npos)
      << *body;
  EXPECT_NE(body->find(std::string(kProcessResidentMemoryBytes) + "{service=\"test\"}"),
            std::string::npos)
      << *body;
}

TEST_F(MetricsServerTest, FailsWhenThePortIsTaken) {
  auto first = StartOnFreePort(std::make_shared<prometheus::Registry>());
  ASSERT_NE(first, nullptr);
  MetricsServerOptions options;
  options.address = first->address();
  options.service = "test";
  Result<std::unique_ptr<MetricsServer>> second =
      MetricsServer::Start(options, std::make_shared<prometheus::Registry>());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(first->address()), std::string::npos)
      << second.status().message();
}

TEST(StartMetricsServerTest, EmptyAddressDisablesMetrics) {
  Result<std::unique_ptr<MetricsServer>> server =
      StartMetricsServer("", "replay", std::make_shared<prometheus::Registry>());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  EXPECT_EQ(*server, nullptr);
}

TEST(StartMetricsServerTest, StartsOnTheGivenAddress) {
  Result<std::unique_ptr<MetricsServer>> server =
      StartMetricsServer("127.0.0.1:0", "replay", std::make_shared<prometheus::Registry>());
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_NE(*server, nullptr);
  EXPECT_GT((*server)->port(), 0);
}

TEST(ProcessCollectorTest, ReportsCpuTimeAndResidentMemory) {
  // Burn a little CPU so that the counter has left zero at clock-tick resolution.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  volatile uint64_t sink = 0;
  while (std::chrono::steady_clock::now() < until) sink = sink + 1;
  const std::vector<prometheus::MetricFamily> families = ProcessCollector("test").Collect();
  ASSERT_EQ(families.size(), 2u);
  EXPECT_EQ(families[0].name, kProcessCpuSecondsTotal);
  EXPECT_GT(families[0].metric.at(0).counter.value, 0);
  EXPECT_EQ(families[1].name, kProcessResidentMemoryBytes);
  EXPECT_GT(families[1].metric.at(0).gauge.value, 1 << 20);
}

prometheus::MetricFamily FamilyWithLabels(std::string name,
                                          std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  return prometheus::MetricFamily{std::move(name), "", prometheus::MetricType::Counter, {metric}};
}

TEST(CheckNamingTest, AcceptsPrefixedNamesWithServiceLabel) {
  EXPECT_TRUE(CheckNaming({FamilyWithLabels("towerstream_x_total", {{"service", "replay"}})}).ok());
  EXPECT_TRUE(CheckNaming(ProcessCollector("ingest").Collect()).ok());
}

TEST(CheckNamingTest, RejectsNameWithoutPrefix) {
  const Status status = CheckNaming({FamilyWithLabels("x_total", {{"service", "replay"}})});
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'x_total'"), std::string::npos) << status.message();
}

TEST(CheckNamingTest, RejectsSeriesWithoutServiceLabel) {
  EXPECT_FALSE(CheckNaming({FamilyWithLabels("towerstream_x_total", {{"topic", "t"}})}).ok());
  EXPECT_FALSE(CheckNaming({FamilyWithLabels("towerstream_x_total", {{"service", ""}})}).ok());
}

TEST(LatencyBucketsTest, AreIncreasingFrom50MicrosecondsToSeconds) {
  const auto buckets = LatencyBuckets();
  ASSERT_FALSE(buckets.empty());
  EXPECT_DOUBLE_EQ(buckets.front(), 50e-6);
  EXPECT_GT(buckets.back(), 10.0);
  for (size_t i = 1; i < buckets.size(); ++i) EXPECT_GT(buckets[i], buckets[i - 1]) << i;
}

}  // namespace
}  // namespace towerstream::metrics
