// The trainer's building blocks without Kafka: model config JSON, the snapshot schedule, the
// training session's snapshots and resume, and embedded training end to end on CSV files.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>

#include "common/evaluation/evaluator.h"
#include "common/evaluation/online_replay.h"
#include "common/evaluation/plots.h"
#include "common/evaluation/ranker_fit.h"
#include "common/hm/hm_reader.h"
#include "common/trainer/embedded_trainer.h"
#include "common/trainer/model_config.h"
#include "common/trainer/snapshot_schedule.h"
#include "common/trainer/trainer_metrics.h"
#include "common/trainer/training_session.h"
#include "tests/model/planted_stream.h"
#include "tests/testing/small_disk.h"
#include "tests/testing/temp_dir.h"
#include "tests/trainer/planted_data.h"
#include "tests/trainer/trainer_test_support.h"

namespace towerstream::trainer {
namespace {

using std::chrono::milliseconds;

SessionOptions Session(const std::filesystem::path& dir) {
  SessionOptions s;
  s.model = testing::SmallModelOptions();
  s.snapshot_dir = dir;
  s.fsync = false;
  s.eval_queries = 32;
  return s;
}

TEST(ModelConfigTest, JsonRoundTripsEveryOption) {
  model::ModelOptions o = testing::SmallModelOptions();
  o.towers.hidden = {48, 24};
  o.towers.temperature = 0.07;
  o.admit_after = 3;
  o.expire_after = 900;
  o.history_length = 12;
  o.table_learning_rate = 0.125f;
  o.dense_learning_rate = 0.004;
  o.weight_decay = 0.01;
  o.extra_negatives = 32;
  o.logq_correction = false;
  o.estimator.alpha = 0.2;
  o.seed = 77;
  const Result<model::ModelOptions> back = ModelConfigFromJson(ModelConfigToJson(o), torch::kCPU);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(ModelConfigDifferences(o, *back), "");
  EXPECT_EQ(ModelConfigToJson(*back), ModelConfigToJson(o));
}

TEST(ModelConfigTest, DifferencesNameTheOptions) {
  model::ModelOptions a = testing::SmallModelOptions(), b = testing::SmallModelOptions();
  b.towers.dim = 32;
  b.estimator.alpha = 0.3;
  const std::string d = ModelConfigDifferences(a, b);
  EXPECT_NE(d.find("dim 16 vs 32"), std::string::npos) << d;
  EXPECT_NE(d.find("estimator.alpha"), std::string::npos) << d;
}

TEST(ModelConfigTest, MissingOrMistypedFieldIsCorruptionNamingIt) {
  nlohmann::json config = ModelConfigToJson(testing::SmallModelOptions());
  config.erase("history_length");
  Result<model::ModelOptions> r = ModelConfigFromJson(config, torch::kCPU);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("history_length"), std::string::npos);
  config = ModelConfigToJson(testing::SmallModelOptions());
  config["dim"] = "wide";
  r = ModelConfigFromJson(config, torch::kCPU);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("'dim'"), std::string::npos);
}

// Found by fuzz/snapshot_manifest_fuzzer: integer fields were read with get<T>(), which casts a
// float (16.5 became 16; 1e300 is undefined behaviour).
TEST(ModelConfigTest, FloatsWhereIntegersBelongAreCorruptionNamingTheField) {
  for (const std::string field : {"dim", "hidden", "seed"}) {
    for (const double bad : {16.5, 1e300}) {
      nlohmann::json config = ModelConfigToJson(testing::SmallModelOptions());
      config[field] = field == "hidden" ? nlohmann::json::array({bad}) : nlohmann::json(bad);
      const Result<model::ModelOptions> r = ModelConfigFromJson(config, torch::kCPU);
      EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << field << " " << bad;
      EXPECT_NE(r.status().message().find("'" + field + "'"), std::string::npos)
          << r.status().message();
    }
  }
}

TEST(SnapshotScheduleTest, ParsesTimesCountsAndOff) {
  struct Case {
    std::string text;
    SnapshotEvery expected;
  };
  const std::vector<Case> cases = {
      {"30s", {.events = 0, .time = milliseconds(30'000)}},
      {"10m", {.events = 0, .time = milliseconds(600'000)}},
      {"2h", {.events = 0, .time = milliseconds(7'200'000)}},
      {"250ms", {.events = 0, .time = milliseconds(250)}},
      {"100000", {.events = 100'000, .time = milliseconds(0)}},
      {"100k", {.events = 100'000, .time = milliseconds(0)}},
      {"2M", {.events = 2'000'000, .time = milliseconds(0)}},
      {"off", {}},
      {"0", {}},
  };
  for (const Case& c : cases) {
    const Result<SnapshotEvery> every = ParseSnapshotEvery(c.text);
    ASSERT_TRUE(every.ok()) << c.text << ": " << every.status().ToString();
    EXPECT_EQ(*every, c.expected) << c.text;
  }
  for (const char* bad : {"", "10x", "-5s", "s", "1.5m", "ten"}) {
    const Result<SnapshotEvery> every = ParseSnapshotEvery(bad);
    ASSERT_FALSE(every.ok()) << bad;
    EXPECT_NE(every.status().message().find("expected"), std::string::npos) << bad;
  }
}

TEST(SnapshotScheduleTest, DueByCountByTimeAndOnRequest) {
  using Clock = SnapshotSchedule::Clock;
  const Clock::time_point t0{};
  SnapshotSchedule by_count({.events = 100, .time = milliseconds(0)}, /*start_events=*/1000, t0);
  EXPECT_FALSE(by_count.Due(1099, t0 + std::chrono::hours(5)));
  EXPECT_TRUE(by_count.Due(1100, t0));
  by_count.Done(1100, t0);
  EXPECT_FALSE(by_count.Due(1150, t0));

  SnapshotSchedule by_time({.events = 0, .time = milliseconds(1000)}, 0, t0);
  EXPECT_FALSE(by_time.Due(1'000'000, t0 + milliseconds(999)));
  EXPECT_TRUE(by_time.Due(0, t0 + milliseconds(1000)));

  SnapshotSchedule off({}, 0, t0);
  EXPECT_FALSE(off.Due(1'000'000, t0 + std::chrono::hours(100)));
  off.Request();
  EXPECT_TRUE(off.Due(0, t0));
  off.Done(0, t0);
  EXPECT_FALSE(off.Due(0, t0));
}

std::vector<std::string> IdsFor(const std::vector<model::Example>& batch, int offset) {
  std::vector<std::string> ids;
  for (size_t i = 0; i < batch.size(); ++i) ids.push_back("event-" + std::to_string(offset + i));
  return ids;
}

TEST(TrainingSessionTest, ResumesFromItsLatestSnapshotWithCountsDigestAndOffsets) {
  towerstream::testing::ScopedTempDir dir("session_resume");
  model::testing::PlantedStream stream(300, 60, 3, 0.8, 1);
  std::string digest;
  std::string id;
  {
    auto session = std::move(TrainingSession::Open(Session(dir.path()), nullptr)).value();
    EXPECT_EQ(session->resumed(), nullptr);
    for (int i = 0; i < 5; ++i) {
      const std::vector<model::Example> batch = stream.Batch(64);
      ASSERT_TRUE(session->TrainBatch(batch, IdsFor(batch, 64 * i)).ok());
    }
    const Result<std::string> written = session->Snapshot({{"hm.examples", {{0, 120}, {1, 200}}}});
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    id = *written;
    digest = session->trained_digest();
    EXPECT_EQ(session->events_trained(), 320);
    // Nothing trained since: the same snapshot.
    EXPECT_EQ(*session->Snapshot({{"hm.examples", {{0, 120}, {1, 200}}}}), id);
  }
  auto resumed = std::move(TrainingSession::Open(Session(dir.path()), nullptr)).value();
  ASSERT_NE(resumed->resumed(), nullptr);
  EXPECT_EQ(resumed->resumed()->id, id);
  EXPECT_EQ(resumed->resumed()->offsets.at("hm.examples").at(1), 200);
  EXPECT_EQ(resumed->events_trained(), 320);
  EXPECT_EQ(resumed->trained_digest(), digest);
  EXPECT_EQ(resumed->model().step(), 5);
  EXPECT_EQ(resumed->status().resumed_from, id);
}

TEST(TrainingSessionTest, DigestChangesWhenAnEventIsTrainedTwice) {
  towerstream::testing::ScopedTempDir a_dir("digest_a"), b_dir("digest_b");
  model::testing::PlantedStream stream(100, 30, 3, 0.8, 2);
  const std::vector<model::Example> batch = stream.Batch(8);
  auto a = std::move(TrainingSession::Open(Session(a_dir.path()), nullptr)).value();
  auto b = std::move(TrainingSession::Open(Session(b_dir.path()), nullptr)).value();
  ASSERT_TRUE(a->TrainBatch(batch, IdsFor(batch, 0)).ok());
  ASSERT_TRUE(b->TrainBatch(batch, IdsFor(batch, 0)).ok());
  EXPECT_EQ(a->trained_digest(), b->trained_digest());
  const std::vector<model::Example> one(batch.begin(), batch.begin() + 1);
  ASSERT_TRUE(b->TrainBatch(one, IdsFor(one, 0)).ok());  // event-0 again
  EXPECT_NE(a->trained_digest(), b->trained_digest());
}

// The value of the gauge `name` in `registry`, or nullopt when it has no series.
std::optional<double> GaugeValue(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == name && !family.metric.empty()) return family.metric[0].gauge.value;
  }
  return std::nullopt;
}

// The newest event time trained goes to status(), the gauge, the manifest's metrics and back
// on resume; an older day trained later (arrival order) does not move it back.
TEST(TrainingSessionTest, RecordsTheNewestEventTimeTrainedAndResumesIt) {
  towerstream::testing::ScopedTempDir dir("session_event_time");
  model::testing::PlantedStream stream(100, 30, 3, 0.8, 6);
  const Date newest = Date::FromCivil(2020, 9, 22);
  prometheus::Registry registry;
  {
    TrainerMetrics metrics(registry);
    auto session = std::move(TrainingSession::Open(Session(dir.path()), &metrics)).value();
    EXPECT_EQ(session->status().trained_event_day, std::nullopt);
    EXPECT_EQ(GaugeValue(registry, "towerstream_trained_event_time_seconds"), std::nullopt)
        << "no series before anything is trained (0 would read as 1970)";
    std::vector<model::Example> batch = stream.Batch(16);
    for (model::Example& e : batch) e.day = (newest + (-3)).days_since_epoch();
    batch[5].day = newest.days_since_epoch();
    ASSERT_TRUE(session->TrainBatch(batch, IdsFor(batch, 0)).ok());
    std::vector<model::Example> older = stream.Batch(16);
    for (model::Example& e : older) e.day = (newest + (-10)).days_since_epoch();
    ASSERT_TRUE(session->TrainBatch(older, IdsFor(older, 16)).ok());
    EXPECT_EQ(session->status().trained_event_day, newest);
    EXPECT_EQ(GaugeValue(registry, "towerstream_trained_event_time_seconds"),
              1'600'732'800.0);  // 2020-09-22T00:00:00Z
    ASSERT_TRUE(session->Snapshot({}).ok());
  }
  const Result<snapshot::Manifest> manifest = testing::LatestManifest(dir.path());
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->metrics.value("trained_event_date", ""), "2020-09-22");
  EXPECT_EQ(manifest->metrics.value("trained_event_time_unix_seconds", int64_t{0}), 1'600'732'800);

  prometheus::Registry resumed_registry;
  TrainerMetrics resumed_metrics(resumed_registry);
  auto resumed = std::move(TrainingSession::Open(Session(dir.path()), &resumed_metrics)).value();
  EXPECT_EQ(resumed->status().trained_event_day, newest);
  EXPECT_EQ(GaugeValue(resumed_registry, "towerstream_trained_event_time_seconds"),
            1'600'732'800.0);
}

// A manifest of a build before the event time (no such metrics, no manifest checksum) resumes,
// with the event time unknown until the next batch.
TEST(TrainingSessionTest, ResumesAManifestWithoutTheEventTime) {
  towerstream::testing::ScopedTempDir dir("session_event_time_old");
  model::testing::PlantedStream stream(100, 30, 3, 0.8, 7);
  std::string id;
  {
    auto session = std::move(TrainingSession::Open(Session(dir.path()), nullptr)).value();
    const std::vector<model::Example> batch = stream.Batch(16);
    ASSERT_TRUE(session->TrainBatch(batch, IdsFor(batch, 0)).ok());
    id = *session->Snapshot({});
  }
  const std::filesystem::path path = dir.path() / id / "manifest.json";
  nlohmann::json manifest = nlohmann::json::parse(std::ifstream(path));
  ASSERT_TRUE(manifest["metrics"].contains("trained_event_date"));
  manifest["metrics"].erase("trained_event_date");
  manifest["metrics"].erase("trained_event_time_unix_seconds");
  manifest.erase("manifest_xxh3_64");
  std::ofstream(path, std::ios::trunc) << manifest.dump(2);

  auto resumed = TrainingSession::Open(Session(dir.path()), nullptr);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  ASSERT_NE((*resumed)->resumed(), nullptr);
  EXPECT_EQ((*resumed)->resumed()->id, id);
  EXPECT_EQ((*resumed)->status().trained_event_day, std::nullopt);
  const std::vector<model::Example> next = stream.Batch(16);
  ASSERT_TRUE((*resumed)->TrainBatch(next, IdsFor(next, 16)).ok());
  EXPECT_EQ((*resumed)->status().trained_event_day, Date(next.back().day));
}

// Progressive validation scores the first batch, then one once eval_spacing x catalogue size
// examples have trained since: its work per trained example does not grow with the catalogue.
TEST(TrainingSessionTest, ScoresBatchesSpacedByTheCatalogueSize) {
  const auto scored_batches = [](int64_t articles, double spacing) {
    towerstream::testing::ScopedTempDir dir("session_spacing");
    model::testing::PlantedStream stream(500, articles, 4, 0.8, 3);
    SessionOptions options = Session(dir.path());
    options.eval_spacing = spacing;
    auto session = std::move(TrainingSession::Open(options, nullptr)).value();
    for (int64_t a = 0; a < articles; ++a) session->model().AddArticle(a, stream.CodesOf(a));
    for (int i = 0; i < 40; ++i) {  // 40 batches of 100: 4,000 examples
      const std::vector<model::Example> batch = stream.Batch(100);
      EXPECT_TRUE(session->TrainBatch(batch, IdsFor(batch, 100 * i)).ok());
    }
    const SessionStatus status = session->status();
    EXPECT_EQ(status.recall_queries, 32 * status.times.scored_batches);
    EXPECT_GT(status.times.validation_seconds, 0);
    EXPECT_GT(status.times.training_seconds, 0);
    return status.times.scored_batches;
  };
  // 100 articles, spacing 5: the first batch, then every 500 examples (5 batches): 1, 6, 11...
  EXPECT_EQ(scored_batches(100, 5.0), 8);
  // Ten times the articles: a tenth of the scoring.
  EXPECT_EQ(scored_batches(1000, 0.5), 8);
  EXPECT_EQ(scored_batches(1000, 5.0), 1);
  // Spacing 0 scores every batch.
  EXPECT_EQ(scored_batches(100, 0.0), 40);
}

// Trains `batches` more batches of 32 on `session` and snapshots; the snapshot's id.
std::string TrainAndSnapshot(TrainingSession& session, model::testing::PlantedStream& stream,
                             int batches) {
  for (int i = 0; i < batches; ++i) {
    const std::vector<model::Example> batch = stream.Batch(32);
    EXPECT_TRUE(session.TrainBatch(batch, IdsFor(batch, 32 * session.events_trained())).ok());
  }
  Result<std::string> id = session.Snapshot({});
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ok() ? *id : "";
}

// A fresh session in `dir` that trains one batch, snapshots and closes: the snapshot's id.
std::string OneSnapshotIn(const std::filesystem::path& dir) {
  model::testing::PlantedStream stream(100, 30, 3, 0.8, 6);
  auto session = std::move(TrainingSession::Open(Session(dir), nullptr)).value();
  return TrainAndSnapshot(*session, stream, 1);
}

// Overwrites the middle byte of a payload file: the snapshot no longer verifies.
void Damage(const std::filesystem::path& snapshot) {
  for (const auto& entry : std::filesystem::directory_iterator(snapshot)) {
    if (entry.path().filename() == snapshot::kManifestFileName || entry.file_size() == 0) continue;
    std::fstream file(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    const auto middle = static_cast<std::streamoff>(entry.file_size() / 2);
    file.seekg(middle);
    const char byte = static_cast<char>(file.get() ^ 0x5a);
    file.seekp(middle);
    file.put(byte);
    return;
  }
  FAIL() << "no payload file in " << snapshot;
}

TEST(TrainingSessionTest, ResumesFromTheNewestSnapshotThatVerifiesAndKeepsTheDamagedOne) {
  towerstream::testing::ScopedTempDir dir("session_damaged");
  model::testing::PlantedStream stream(100, 30, 3, 0.8, 4);
  std::string good, damaged;
  {
    auto session = std::move(TrainingSession::Open(Session(dir.path()), nullptr)).value();
    good = TrainAndSnapshot(*session, stream, 2);
    damaged = TrainAndSnapshot(*session, stream, 2);
  }
  Damage(dir.path() / damaged);

  SessionOptions reopen = Session(dir.path());
  reopen.keep = 1;
  auto session = TrainingSession::Open(reopen, nullptr);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  ASSERT_NE((*session)->resumed(), nullptr);
  EXPECT_EQ((*session)->resumed()->id, good) << "the newest snapshot that verifies";
  EXPECT_EQ((*session)->model().step(), 2);
  const SessionStatus status = (*session)->status();
  ASSERT_EQ(status.resume_skipped.size(), 1u);
  EXPECT_EQ(status.resume_skipped[0].first, damaged);
  EXPECT_NE(status.resume_skipped[0].second.find("XXH3-64"), std::string::npos)
      << status.resume_skipped[0].second;
  // Retention (keep 1) deletes the snapshot resumed from, never the newer damaged one.
  const std::string next = TrainAndSnapshot(**session, stream, 1);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / damaged));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / next));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / good));
}

TEST(TrainingSessionTest, ResumesFromTheNewestSnapshotWhenLatestIsMissing) {
  towerstream::testing::ScopedTempDir dir("session_no_latest");
  model::testing::PlantedStream stream(100, 30, 3, 0.8, 5);
  std::string newest;
  {
    auto session = std::move(TrainingSession::Open(Session(dir.path()), nullptr)).value();
    TrainAndSnapshot(*session, stream, 1);
    newest = TrainAndSnapshot(*session, stream, 2);
  }
  std::filesystem::remove(dir.path() / snapshot::kLatestFileName);
  prometheus::Registry registry;
  TrainerMetrics metrics(registry);
  auto session = TrainingSession::Open(Session(dir.path()), &metrics);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_EQ(metrics.snapshots_skipped_on_resume.Value(), 1);
  ASSERT_NE((*session)->resumed(), nullptr) << "not silently from step 0";
  EXPECT_EQ((*session)->resumed()->id, newest);
  EXPECT_EQ((*session)->events_trained(), 96);
  const SessionStatus status = (*session)->status();
  ASSERT_EQ(status.resume_skipped.size(), 1u);
  EXPECT_EQ(status.resume_skipped[0].first, "LATEST");
}

TEST(TrainingSessionTest, RefusesToStartWhenNoSnapshotVerifies) {
  towerstream::testing::ScopedTempDir dir("session_all_damaged");
  const std::string only = OneSnapshotIn(dir.path());
  Damage(dir.path() / only);
  const auto session = TrainingSession::Open(Session(dir.path()), nullptr);
  ASSERT_FALSE(session.ok()) << "starting afresh would let retention delete the snapshot";
  EXPECT_EQ(session.status().code(), StatusCode::kCorruption);
  EXPECT_NE(session.status().message().find(only), std::string::npos) << session.status().message();
  EXPECT_TRUE(std::filesystem::exists(dir.path() / only));
}

// A LATEST that names a snapshot no longer there, with none left beside it, used to start
// afresh without a word (and the next snapshot replaced LATEST): a folder that once held
// training is not empty, so the run refuses and says how to start afresh.
TEST(TrainingSessionTest, RefusesToStartWhenLatestNamesASnapshotThatIsGone) {
  towerstream::testing::ScopedTempDir dir("session_latest_gone");
  const std::string only = OneSnapshotIn(dir.path());
  std::filesystem::remove_all(dir.path() / only);
  const auto session = TrainingSession::Open(Session(dir.path()), nullptr);
  ASSERT_FALSE(session.ok()) << "started afresh beside a LATEST that names " << only;
  EXPECT_EQ(session.status().code(), StatusCode::kCorruption);
  EXPECT_NE(session.status().message().find(only), std::string::npos) << session.status().message();
  EXPECT_NE(session.status().message().find("remove"), std::string::npos)
      << session.status().message();
}

TEST(TrainingSessionTest, RefusesToResumeASnapshotOfOtherModelOptions) {
  towerstream::testing::ScopedTempDir dir("session_mismatch");
  model::testing::PlantedStream stream(100, 30, 3, 0.8, 3);
  {
    auto session = std::move(TrainingSession::Open(Session(dir.path()), nullptr)).value();
    const std::vector<model::Example> batch = stream.Batch(16);
    ASSERT_TRUE(session->TrainBatch(batch, IdsFor(batch, 0)).ok());
    ASSERT_TRUE(session->Snapshot({}).ok());
  }
  SessionOptions other = Session(dir.path());
  other.model.towers.dim = 8;
  const auto reopened = TrainingSession::Open(other, nullptr);
  ASSERT_FALSE(reopened.ok());
  EXPECT_EQ(reopened.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(reopened.status().message().find("dim 16 vs 8"), std::string::npos)
      << reopened.status().message();
}

EmbeddedOptions Embedded(const std::filesystem::path& data, const std::filesystem::path& snaps) {
  EmbeddedOptions o;
  o.data_dir = data;
  o.session = Session(snaps);
  o.batch_size = 256;
  o.progress = false;
  return o;
}

// The planted structure must show in Kaggle's metrics on the held-out week: segments are
// learnable, while best sellers of the week before say little.
TEST(EmbeddedTrainerTest, LearnsAPlantedStructureFarAbovePopularity) {
  towerstream::testing::ScopedTempDir dir("embedded_planted");
  testing::PlantedDataOptions data;
  ASSERT_TRUE(testing::WritePlantedData(dir.path() / "data", data).ok());
  EmbeddedOptions o = Embedded(dir.path() / "data", dir.path() / "snapshots");
  o.epochs = 2;
  SnapshotSchedule schedule({});
  const Result<EmbeddedSummary> summary = TrainEmbedded(o, schedule, nullptr, std::stop_token());
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->until, data.start + (data.days - 7));
  EXPECT_EQ(summary->epochs_done, 2);
  // Embedded training records the day it trained up to, as the Kafka trainer does.
  const Result<snapshot::Manifest> manifest = testing::LatestManifest(dir.path() / "snapshots");
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->metrics.value("trained_event_date", ""), (summary->until + (-1)).ToString());

  evaluation::EvaluateOptions eval;
  eval.snapshot = dir.path() / "snapshots";
  eval.data_dir = dir.path() / "data";
  eval.progress = false;
  const Result<evaluation::EvaluationReport> report = evaluation::Evaluate(eval);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const std::string table = evaluation::FormatReport(*report);
  std::cout << table;
  EXPECT_GT(report->model.customers, 300) << table;
  // Each segment has 100 articles: the model's top 100 should hold most of a customer's week.
  EXPECT_GT(report->model.recall_at_100, 0.6) << table;
  EXPECT_GT(report->model.recall_at_100, 3 * report->popularity.recall_at_100) << table;
  EXPECT_GT(report->model.map_at_12, 2 * report->popularity.map_at_12) << table;
  EXPECT_EQ(report->test_start, data.start + (data.days - 7));
  // Buy again, then trending scores the same customers; the two customer segments split them.
  EXPECT_EQ(report->repurchase.customers, report->model.customers);
  ASSERT_EQ(report->segments.size(), 3u);
  EXPECT_EQ(report->segments[0].name, "returning_customers");
  EXPECT_EQ(report->segments[0].model.customers + report->segments[1].model.customers,
            report->model.customers);
  EXPECT_GT(report->segments[0].model.customers, 0) << table;

  // The training log of both epochs, and the charts of `evaluate --plot`.
  const auto log = evaluation::ReadTrainingLog(dir.path() / "snapshots" / kTrainingLogFile);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_GE(log->size(), 5u);
  for (size_t i = 1; i < log->size(); ++i) {
    EXPECT_GT((*log)[i].events_trained, (*log)[i - 1].events_trained);
    EXPECT_EQ((*log)[i].step % 10, 0);
  }
  EXPECT_GT(log->back().recall_at_100, log->front().recall_at_100);
  const auto plots = evaluation::WritePlots(*report, dir.path() / "plots");
  ASSERT_TRUE(plots.ok()) << plots.status().ToString();
  for (const char* chart : {"recall_at_k.svg", "training_loss.svg", "training_recall.svg"}) {
    EXPECT_GT(std::filesystem::file_size(dir.path() / "plots" / chart), 1000u) << chart;
  }
}

// Stopped after its first micro-batch and resumed, a run trains the same examples, in the same
// batches, to the same model as an uninterrupted one.
TEST(EmbeddedTrainerTest, ResumedRunEqualsUninterruptedRun) {
  towerstream::testing::ScopedTempDir dir("embedded_resume");
  testing::PlantedDataOptions data;
  data.customers = 200;
  data.days = 30;
  const Result<int64_t> rows = testing::WritePlantedData(dir.path() / "data", data);
  ASSERT_TRUE(rows.ok());

  SnapshotSchedule schedule({});
  const EmbeddedOptions whole = Embedded(dir.path() / "data", dir.path() / "whole");
  const Result<EmbeddedSummary> uninterrupted =
      TrainEmbedded(whole, schedule, nullptr, std::stop_token());
  ASSERT_TRUE(uninterrupted.ok()) << uninterrupted.status().ToString();

  const EmbeddedOptions parts = Embedded(dir.path() / "data", dir.path() / "parts");
  std::stop_source stop;
  stop.request_stop();  // stops after the first micro-batch
  const Result<EmbeddedSummary> first = TrainEmbedded(parts, schedule, nullptr, stop.get_token());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_TRUE(first->interrupted);
  EXPECT_EQ(first->examples_trained, 256);
  const Result<EmbeddedSummary> rest = TrainEmbedded(parts, schedule, nullptr, std::stop_token());
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_EQ(rest->examples_skipped, 256);
  EXPECT_EQ(first->examples_trained + rest->examples_trained, uninterrupted->examples_trained);
  EXPECT_EQ(rest->status.events_trained, uninterrupted->status.events_trained);

  const auto a = LoadModelSnapshot(dir.path() / "whole", torch::kCPU);
  const auto b = LoadModelSnapshot(dir.path() / "parts", torch::kCPU);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->manifest.trained_digest, b->manifest.trained_digest);
  EXPECT_EQ(a->manifest.step, b->manifest.step);
  model::testing::PlantedStream queries(200, 800, 8, 0.9, 9);
  const std::vector<model::Example> probe = queries.Batch(50);
  EXPECT_TRUE(torch::equal(*a->model->QueryEmbeddings(probe), *b->model->QueryEmbeddings(probe)));
  EXPECT_TRUE(torch::equal(a->model->CatalogueEmbeddings()->vectors,
                           b->model->CatalogueEmbeddings()->vectors));

  // Run again: everything is trained, nothing more happens, and the summary says so.
  const Result<EmbeddedSummary> again = TrainEmbedded(parts, schedule, nullptr, std::stop_token());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->examples_trained, 0);
  EXPECT_TRUE(again->nothing_to_do);
  EXPECT_EQ(again->epochs_before, 1);
  EXPECT_EQ(again->snapshot_id, b->manifest.id);
  const auto unchanged = LoadModelSnapshot(dir.path() / "parts", torch::kCPU);
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ(unchanged->manifest.id, b->manifest.id);  // no snapshot written
}

TEST(EmbeddedTrainerTest, UnsortedTransactionsFailNamingTheLine) {
  towerstream::testing::ScopedTempDir dir("embedded_unsorted");
  testing::PlantedDataOptions data;
  data.customers = 20;
  data.days = 3;
  data.daily_buy_rate = 1.0;
  ASSERT_TRUE(testing::WritePlantedData(dir.path(), data).ok());
  // A row dated before the one above it, appended at the end.
  std::FILE* f = std::fopen((dir.path() / "transactions_train.csv").c_str(), "a");
  std::fprintf(f, "2020-05-01,%s,0100000003,0.02,1\n", testing::PlantedCustomerId(1).c_str());
  std::fclose(f);
  EmbeddedOptions o = Embedded(dir.path(), dir.path() / "snapshots");
  o.until = Date::FromCivil(2021, 1, 1);
  SnapshotSchedule schedule({});
  const Result<EmbeddedSummary> summary = TrainEmbedded(o, schedule, nullptr, std::stop_token());
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.status().message().find("transactions_train.csv:"), std::string::npos)
      << summary.status().message();
  EXPECT_NE(summary.status().message().find("sorted by t_dat"), std::string::npos);
}

// A full snapshot disk no longer costs the run: periodic snapshots fail with a warning while
// training goes on, and the final one waits until space is freed (issue 12). Needs a small
// tmpfs, which only root can mount.
TEST(EmbeddedTrainerTest, FinalSnapshotWaitsForSpaceRatherThanLosingTheRun) {
  towerstream::testing::ScopedTempDir dir("embedded_full_disk");
  testing::PlantedDataOptions data;
  data.customers = 60;
  data.days = 30;
  ASSERT_TRUE(testing::WritePlantedData(dir.path() / "data", data).ok());
  // All but 32 KiB taken: no snapshot fits until the filler goes.
  std::string why;
  const auto small =
      towerstream::testing::SmallDisk::Mount(dir.path() / "disk", 8 << 20, 32 << 10, &why);
  if (!small) GTEST_SKIP() << why;
  const std::filesystem::path& disk = small->dir();
  EmbeddedOptions options = Embedded(dir.path() / "data", disk / "snapshots");
  options.snapshot_every = SnapshotEvery{.events = 50, .time = {}};
  options.final_snapshot_patience = std::chrono::seconds(60);
  std::jthread free_space([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    small->FreeSpace();
  });
  ::testing::internal::CaptureStderr();
  SnapshotSchedule schedule(options.snapshot_every);
  const Result<EmbeddedSummary> summary =
      TrainEmbedded(options, schedule, nullptr, std::stop_token());
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(summary.ok()) << summary.status().ToString() << "\n" << log;
  EXPECT_TRUE(std::filesystem::exists(disk / "snapshots" / summary->snapshot_id));
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;
  EXPECT_NE(log.find("snapshot failed, training goes on"), std::string::npos) << log;
  EXPECT_NE(log.find("the final snapshot failed"), std::string::npos) << log;
  const auto loaded = LoadModelSnapshot(disk / "snapshots", torch::kCPU);
  EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
}

TEST(EmbeddedTrainerTest, AMissingFileIsNamed) {
  towerstream::testing::ScopedTempDir dir("embedded_missing");
  testing::PlantedDataOptions data;
  data.customers = 10;
  data.days = 2;
  ASSERT_TRUE(testing::WritePlantedData(dir.path(), data).ok());
  std::filesystem::remove(dir.path() / "customers.csv");
  SnapshotSchedule schedule({});
  const Result<EmbeddedSummary> summary = TrainEmbedded(
      Embedded(dir.path(), dir.path() / "snapshots"), schedule, nullptr, std::stop_token());
  ASSERT_FALSE(summary.ok());
  EXPECT_NE(summary.status().message().find("no customers file"), std::string::npos)
      << summary.status().message();
}

// The file is there but empty: the error names it and says why, rather than "no file".
TEST(EmbeddedTrainerTest, AnEmptyTransactionsFileIsNamedWithWhy) {
  towerstream::testing::ScopedTempDir dir("embedded_empty");
  testing::PlantedDataOptions data;
  data.customers = 10;
  data.days = 2;
  ASSERT_TRUE(testing::WritePlantedData(dir.path(), data).ok());
  const std::filesystem::path transactions = dir.path() / "transactions_train.csv";
  std::ofstream(transactions, std::ios::trunc).close();
  SnapshotSchedule schedule({});
  const Result<EmbeddedSummary> summary = TrainEmbedded(
      Embedded(dir.path(), dir.path() / "snapshots"), schedule, nullptr, std::stop_token());
  ASSERT_FALSE(summary.ok());
  const std::string message = summary.status().message();
  EXPECT_NE(message.find("no transactions file"), std::string::npos) << message;
  EXPECT_NE(message.find("not recognised:\n  " + transactions.string()), std::string::npos)
      << message;
}

// Transactions of the planted data per day, from the written file.
std::map<Date, int64_t> TransactionsPerDay(const std::filesystem::path& data) {
  std::map<Date, int64_t> per_day;
  auto reader =
      std::move(hm::TransactionReader::Open((data / "transactions_train.csv").string())).value();
  hm::Transaction t;
  while (reader->Next(&t).value()) ++per_day[t.t_dat];
  return per_day;
}

EmbeddedOptions WithRanker(EmbeddedOptions o, std::vector<int64_t>* steps_at_fit) {
  o.fit_ranker = [data = o.data_dir, steps_at_fit](model::TwoTowerModel& model, Date week_start,
                                                   Date week_end) {
    steps_at_fit->push_back(model.step());
    return evaluation::FitRankerOnWindow(model, data, week_start, week_end);
  };
  return o;
}

// The ranker is fitted once, on the week before the held-out one, with towers that have
// trained on everything before that week and nothing of it; the snapshot carries it, and
// evaluate ranks with it.
TEST(EmbeddedTrainerTest, FitsTheRankerOnTheValidationWeekBeforeTrainingOnIt) {
  towerstream::testing::ScopedTempDir dir("embedded_ranker");
  testing::PlantedDataOptions data;
  ASSERT_TRUE(testing::WritePlantedData(dir.path() / "data", data).ok());
  std::vector<int64_t> steps_at_fit;
  EmbeddedOptions o =
      WithRanker(Embedded(dir.path() / "data", dir.path() / "snapshots"), &steps_at_fit);
  o.epochs = 2;
  SnapshotSchedule schedule({});
  const Result<EmbeddedSummary> summary = TrainEmbedded(o, schedule, nullptr, std::stop_token());
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_NE(summary->ranker.find("fitted on the week from"), std::string::npos) << summary->ranker;

  // Once, in the last epoch, after every full micro-batch before the week and before any
  // example of it.
  ASSERT_EQ(steps_at_fit.size(), 1u);
  const Date week_start = summary->until + (-7);
  int64_t per_epoch = 0, before_week = 0;
  for (const auto& [day, n] : TransactionsPerDay(dir.path() / "data")) {
    if (day < summary->until) per_epoch += n;
    if (day < week_start) before_week += n;
  }
  const int64_t steps_per_epoch = (per_epoch + o.batch_size - 1) / o.batch_size;
  EXPECT_EQ(steps_at_fit[0], steps_per_epoch + before_week / o.batch_size);

  const Result<LoadedSnapshot> loaded = LoadModelSnapshot(dir.path() / "snapshots", torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->ranker.fitted());
  EXPECT_EQ(loaded->ranker.fit_summary().at("week_start"), week_start.ToString());

  evaluation::EvaluateOptions eval;
  eval.snapshot = dir.path() / "snapshots";
  eval.data_dir = dir.path() / "data";
  eval.progress = false;
  const Result<evaluation::EvaluationReport> report = evaluation::Evaluate(eval);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const std::string table = evaluation::FormatReport(*report);
  std::cout << table;
  EXPECT_EQ(report->ranker, loaded->ranker.Describe());
  // Here customers keep to their segment and rarely re-buy: the ranker must not lose what the
  // towers find.
  EXPECT_GT(report->model.recall_at_100, 0.9 * report->towers.recall_at_100) << table;
  EXPECT_GT(report->model.map_at_12, 0.9 * report->towers.map_at_12) << table;
}

// The online replay scores each day before it trains on it, and trains on each day once: on
// the first day the online model is still the snapshot, so it scores exactly as the frozen one.
TEST(OnlineReplayTest, ScoresEachDayBeforeTrainingOnItAndTrainsItOnce) {
  towerstream::testing::ScopedTempDir dir("online_replay");
  testing::PlantedDataOptions data;
  data.customers = 300;
  data.days = 30;
  ASSERT_TRUE(testing::WritePlantedData(dir.path() / "data", data).ok());
  EmbeddedOptions o = Embedded(dir.path() / "data", dir.path() / "snapshots");
  SnapshotSchedule schedule({});
  const Result<EmbeddedSummary> summary = TrainEmbedded(o, schedule, nullptr, std::stop_token());
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();

  evaluation::OnlineReplayOptions replay;
  replay.snapshot = dir.path() / "snapshots";
  replay.data_dir = dir.path() / "data";
  replay.batch_size = 64;
  replay.progress = false;
  const Result<evaluation::OnlineReport> report = evaluation::ReplayOnline(replay);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::cout << evaluation::FormatOnlineReport(*report);
  EXPECT_EQ(report->test_start, summary->until);
  ASSERT_EQ(report->days.size(), 7u);
  const std::map<Date, int64_t> per_day = TransactionsPerDay(dir.path() / "data");
  int64_t trained = 0;
  for (const evaluation::OnlineDay& day : report->days) {
    EXPECT_EQ(day.trained_before, trained) << day.day.ToString();
    const auto it = per_day.find(day.day);
    EXPECT_EQ(day.purchases, it == per_day.end() ? 0 : it->second) << day.day.ToString();
    EXPECT_EQ(day.online.customers, day.customers);
    trained += day.purchases;
  }
  EXPECT_EQ(report->examples_trained, trained);
  const evaluation::OnlineDay& first = report->days.front();
  ASSERT_GT(first.customers, 0);
  EXPECT_EQ(first.online.map_at_12, first.frozen.map_at_12);
  EXPECT_EQ(first.online.recall_at_100, first.frozen.recall_at_100);
  // Later days differ: the online model has trained (on this data, with a small micro-batch).
  bool differs = false;
  for (size_t d = 1; d < report->days.size(); ++d) {
    differs |= report->days[d].online.recall_at_100 != report->days[d].frozen.recall_at_100 ||
               report->days[d].online.map_at_12 != report->days[d].frozen.map_at_12;
  }
  EXPECT_TRUE(differs);
  const nlohmann::json json = evaluation::OnlineReportJson(*report);
  EXPECT_EQ(json.at("unit"), "customer-day");
  EXPECT_EQ(json.at("days").size(), 7u);
}

}  // namespace
}  // namespace towerstream::trainer
