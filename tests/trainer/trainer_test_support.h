// Shared helpers of the trainer's Kafka tests: example streams, producing them, the digest an
// exactly-once run must end with, and reading snapshots and the admin API.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base/status.h"
#include "common/events/events.h"
#include "common/kafka/producer.h"
#include "common/model/two_tower_model.h"
#include "common/snapshot/snapshot_store.h"
#include "tests/model/small_model.h"

namespace towerstream::trainer::testing {

// `n` valid examples of `customers` customers buying `articles` articles (a planted
// segment structure), with histories and event ids "example-<i>"; deterministic per seed.
std::vector<events::ExampleEvent> MakeExamples(int customers, int articles, int n, int first_id,
                                               uint64_t seed);

// Produces them to <prefix>hm.examples, each on partition (customer index % partitions), and
// waits for the deliveries.
Status ProduceExamples(kafka::Producer& producer, const std::string& prefix,
                       std::span<const events::ExampleEvent> examples, int partitions);
// Produces raw payloads (e.g. undecodable ones) to partition 0 of <prefix>hm.examples.
Status ProducePayloads(kafka::Producer& producer, const std::string& prefix,
                       const std::vector<std::string>& payloads);

// The trained digest (TrainingSession::trained_digest) of training each example exactly once.
std::string ExpectedDigest(std::span<const events::ExampleEvent> examples);

// The manifest LATEST names in `snapshot_dir`.
Result<snapshot::Manifest> LatestManifest(const std::filesystem::path& snapshot_dir);

// GET or POST on a trainer's admin API; the body as JSON, or an error with the status.
Result<nlohmann::json> AdminCall(const std::string& address, const std::string& method,
                                 const std::string& path, const std::string& token = "");

// The admin address a trainer printed to its log ("admin API on http://HOST:PORT"), waiting up
// to `timeout` for it; "" if it never came.
std::string AdminAddressIn(const std::string& log, std::chrono::milliseconds timeout);

using model::testing::SmallModelOptions;

// Small, fast model flags for the towerstream binary in the tests.
std::vector<std::string> SmallModelFlags();

#ifdef TOWERSTREAM_BIN
// The towerstream binary with `args` and the small model's flags (tests that run the binary
// get TOWERSTREAM_BIN from CMake).
inline std::vector<std::string> SmallModelCommand(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {TOWERSTREAM_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  for (const std::string& flag : SmallModelFlags()) argv.push_back(flag);
  return argv;
}
#endif

}  // namespace towerstream::trainer::testing
