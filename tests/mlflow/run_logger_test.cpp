// The MLflow client and RunLogger without a server: tracking URIs, and what training sees when
// MLflow cannot be reached (nothing blocks, it is said once, values are counted, not lost
// silently).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/mlflow/run_logger.h"
#include "common/mlflow/tracking_client.h"
#include "tests/testing/ports.h"

namespace towerstream::mlflow {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// An MLflow URI on a loopback port nothing listens on: connecting is refused at once.
std::string UnreachableUri() {
  return "http://127.0.0.1:" + std::to_string(towerstream::testing::UnusedLoopbackPort());
}

// Collects what the logger says.
struct Lines {
  std::mutex mutex;
  std::vector<std::string> lines;
  RunLogger::Say Sink() {
    return [this](const std::string& line) {
      const std::lock_guard lock(mutex);
      lines.push_back(line);
    };
  }
  int Count(const std::string& text) {
    const std::lock_guard lock(mutex);
    int n = 0;
    for (const std::string& line : lines) n += line.find(text) != std::string::npos ? 1 : 0;
    return n;
  }
};

TEST(TrackingClientTest, AcceptsHttpUrisWithPortAndPrefix) {
  EXPECT_TRUE(TrackingClient::Create("http://127.0.0.1:5000").ok());
  EXPECT_TRUE(TrackingClient::Create("http://mlflow.internal/tracking/").ok());
  EXPECT_TRUE(TrackingClient::Create("http://[::1]:5000").ok());
  const auto https = TrackingClient::Create("https://mlflow.example.com");
  ASSERT_FALSE(https.ok());
  EXPECT_NE(https.status().message().find("https is not supported"), std::string::npos);
  for (const char* bad : {"", "127.0.0.1:5000", "http://", "http://host:5000?x=1",
                          "http://user@host:5000", "ftp://host"}) {
    const auto client = TrackingClient::Create(bad);
    ASSERT_FALSE(client.ok()) << bad;
    EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(client.status().message().find(bad), std::string::npos) << bad;
  }
}

TEST(TrackingClientTest, AnUnreachableServerIsUnavailableNamingTheUri) {
  const std::string uri = UnreachableUri();
  auto client = TrackingClient::Create(uri, milliseconds(2000));
  ASSERT_TRUE(client.ok());
  const auto experiment = client->GetOrCreateExperiment("x");
  ASSERT_FALSE(experiment.ok());
  EXPECT_EQ(experiment.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(experiment.status().message().find(uri), std::string::npos);
}

TEST(RunLoggerTest, BadOptionsAreRefusedUpFront) {
  TrackingOptions options;
  options.tracking_uri = "mlflow:5000";
  EXPECT_EQ(RunLogger::Start(options, {}, {}).status().code(), StatusCode::kInvalidArgument);
  options.tracking_uri = "http://127.0.0.1:5000";
  options.experiment = "";
  EXPECT_EQ(RunLogger::Start(options, {}, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(TrackingOptions{}.Validate().ok());  // no URI: tracking off, nothing to check
}

// Training goes on: logging never waits on the network, MLflow's absence is said once (not
// per attempt), and at the end every value is accounted for as dropped.
TEST(RunLoggerTest, AnUnreachableServerNeitherBlocksNorLosesValuesSilently) {
  TrackingOptions options;
  options.tracking_uri = UnreachableUri();
  options.retry_every = milliseconds(50);
  options.max_buffered_metrics = 100;
  Lines said;
  auto logger = RunLogger::Start(options, {}, said.Sink());
  ASSERT_TRUE(logger.ok()) << logger.status().ToString();

  const auto started = Clock::now();
  for (int step = 1; step <= 60; ++step) {
    (*logger)->LogMetrics(step, {{"loss", 1.0 / step}, {"recall", 0.5}});
  }
  (*logger)->LogMetrics(61, {{"loss", std::nan("")}});
  EXPECT_LT(Clock::now() - started, milliseconds(500));
  std::this_thread::sleep_for(milliseconds(400));  // several retries
  (*logger)->Finish(RunStatus::kFinished);
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));

  EXPECT_EQ(said.Count("MLflow unreachable"), 1);
  EXPECT_EQ(said.Count("training goes on"), 1);
  EXPECT_EQ(said.Count("never reached"), 1);
  const RunLoggerStats stats = (*logger)->stats();
  EXPECT_FALSE(stats.connected);
  EXPECT_TRUE(stats.run_id.empty());
  EXPECT_EQ(stats.metrics_sent, 0);
  EXPECT_EQ(stats.metrics_dropped, 120);  // 20 over the buffer, 100 undelivered at the end
  EXPECT_EQ(stats.metrics_not_finite, 1);
  EXPECT_NE(stats.last_error.find("Connection refused"), std::string::npos) << stats.last_error;

  // After Finish nothing more is taken, and Finish again does nothing.
  (*logger)->LogMetrics(62, {{"loss", 1.0}});
  (*logger)->Finish(RunStatus::kFailed);
  EXPECT_EQ((*logger)->stats().metrics_dropped, 120);
}

TEST(RunLoggerTest, DestroyingAnUnfinishedLoggerReturnsPromptly) {
  TrackingOptions options;
  options.tracking_uri = UnreachableUri();
  options.retry_every = std::chrono::hours(1);  // it must not wait out the pause
  const auto started = Clock::now();
  {
    auto logger = RunLogger::Start(options, {}, {});
    ASSERT_TRUE(logger.ok());
    (*logger)->LogMetrics(1, {{"loss", 1.0}});
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_LT(Clock::now() - started, std::chrono::seconds(5));
}

}  // namespace
}  // namespace towerstream::mlflow
