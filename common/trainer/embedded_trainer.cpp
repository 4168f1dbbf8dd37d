// TrainEmbedded: CSV files -> ingest's enrichment -> TrainingSession, epoch by epoch.
#include "common/trainer/embedded_trainer.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "common/base/progress.h"
#include "common/events/event_id.h"
#include "common/features/feature_store.h"
#include "common/hm/hm_reader.h"
#include "common/ingest/enricher.h"
#include "common/replay/data_files.h"
#include "common/trainer/example_decoder.h"

namespace towerstream::trainer {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Entities written to the feature store per RocksDB write batch.
constexpr int64_t kEntityChunk = 20'000;

// A temporary state folder that removes itself (unless the caller named the folder).
class StateDir {
 public:
  explicit StateDir(const std::filesystem::path& given) {
    if (given.empty()) {
      path_ = std::filesystem::temp_directory_path() /
              ("towerstream-train-" + std::to_string(::getpid()));
      owned_ = true;
    } else {
      path_ = given;
    }
  }
  ~StateDir() {
    std::error_code ignored;
    if (owned_) std::filesystem::remove_all(path_, ignored);
  }
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  bool owned_ = false;
};

// One epoch's enrichment: a fresh feature store loaded with every article and customer.
class EpochEnrichment {
 public:
  // Examples of one micro-batch, in file order, and whether the file has more to train on.
  struct Chunk {
    std::vector<model::Example> examples;
    std::vector<std::string> ids;
    bool more = true;
  };

  static Result<std::unique_ptr<EpochEnrichment>> Open(const std::filesystem::path& dir,
                                                       const replay::DataFiles& files, Date until,
                                                       int history_length,
                                                       model::TwoTowerModel& model,
                                                       int64_t* rows_rejected) {
    std::error_code error;
    std::filesystem::remove_all(dir, error);
    std::filesystem::create_directories(dir.parent_path(), error);
    if (error) {
      return Status::IoError("train: cannot create " + dir.parent_path().string() + ": " +
                             error.message());
    }
    features::FeatureStoreOptions store;
    store.path = dir.string();
    store.history_length = history_length;
    // Rebuilt from the CSV files if lost: durability buys nothing here.
    store.sync_writes = false;
    store.write_ahead_log = false;
    // Enrichment runs beside training with time to spare; filling the caches while loading
    // every customer would only delay the first step (by about 3 s at Kaggle's size).
    store.cache_loaded_entities = false;
    auto out = std::unique_ptr<EpochEnrichment>(new EpochEnrichment());
    TS_ASSIGN_OR_RETURN(out->store_, features::FeatureStore::Open(store));
    ingest::EnricherOptions enrich;
    enrich.history_length = history_length;
    out->enricher_ = std::make_unique<ingest::Enricher>(*out->store_, enrich);
    TS_RETURN_IF_ERROR(out->LoadArticles(files.articles, model, rows_rejected));
    TS_RETURN_IF_ERROR(out->LoadCustomers(files.customers, rows_rejected));
    TS_ASSIGN_OR_RETURN(out->reader_, hm::TransactionReader::Open(files.transactions));
    out->source_ = std::filesystem::path(files.transactions).filename().string();
    out->until_ = until;
    return out;
  }

  // Reads up to `batch_size` transactions before `until` and enriches them. Touches only this
  // object, so the next micro-batch can be prepared on another thread while one trains.
  Result<Chunk> Next(int64_t batch_size) {
    Chunk chunk;
    inputs_.clear();
    hm::Transaction t;
    while (static_cast<int64_t>(inputs_.size()) < batch_size) {
      TS_ASSIGN_OR_RETURN(chunk.more, reader_->Next(&t));
      if (!chunk.more) break;
      if (previous_ && t.t_dat < *previous_) {
        return Status::InvalidArgument(
            reader_->file() + ":" + std::to_string(reader_->line()) + ": t_dat " +
            t.t_dat.ToString() + " comes after " + previous_->ToString() +
            ": train needs transactions sorted by t_dat (as Kaggle's file and `towerstream "
            "generate`'s are)");
      }
      previous_ = t.t_dat;
      if (!(t.t_dat < until_)) {
        chunk.more = false;  // sorted: nothing later trains
        break;
      }
      ingest::EnrichInput& in = inputs_.emplace_back();
      in.position = {0, reader_->line()};
      in.event.event_id = events::MakeTransactionEventId(source_, reader_->line());
      in.event.transaction = t;
      TS_ASSIGN_OR_RETURN(in.customer, features::CustomerKeyFromId(t.customer_id));
    }
    if (!inputs_.empty()) TS_RETURN_IF_ERROR(Enrich(inputs_, &chunk.examples, &chunk.ids));
    return chunk;
  }

  const hm::LoadStats& stats() const { return reader_->stats(); }

  // Enriches `inputs` into examples (appended to `examples`, event ids to `ids`) and writes
  // their history.
  Status Enrich(std::span<const ingest::EnrichInput> inputs, std::vector<model::Example>* examples,
                std::vector<std::string>* ids) {
    ingest::EnrichTimings timings;
    TS_RETURN_IF_ERROR(enricher_->Enrich(inputs, /*now_ms=*/0, &batch_, &outcomes_, &timings));
    TS_RETURN_IF_ERROR(store_->Write(&batch_));
    for (const ingest::EnrichOutcome& out : outcomes_) {
      // The cold policy turns every valid transaction into an example.
      if (out.kind != ingest::EnrichOutcome::Kind::kExample) continue;
      examples->push_back(ExampleFromEvent(out.example));
      ids->push_back(out.example.event_id);
    }
    return Status::Ok();
  }

 private:
  EpochEnrichment() = default;

  Status LoadArticles(const std::string& path, model::TwoTowerModel& model, int64_t* rejected) {
    TS_ASSIGN_OR_RETURN(auto reader, hm::ArticleReader::Open(path));
    hm::Article article;
    int64_t n = 0;
    while (true) {
      TS_ASSIGN_OR_RETURN(const bool more, reader->Next(&article));
      if (!more) break;
      batch_.PutArticle(article.article_id, events::ArticleFeaturesOf(article));
      // Every article of the file is a candidate when scoring, bought yet or not.
      model.AddArticle(article.article_id, model::ArticleCodesOf(article));
      if (++n % kEntityChunk == 0) TS_RETURN_IF_ERROR(store_->Write(&batch_));
    }
    *rejected += reader->stats().rows_rejected;
    return store_->Write(&batch_);
  }

  Status LoadCustomers(const std::string& path, int64_t* rejected) {
    TS_ASSIGN_OR_RETURN(auto reader, hm::CustomerReader::Open(path));
    hm::Customer customer;
    int64_t n = 0;
    while (true) {
      TS_ASSIGN_OR_RETURN(const bool more, reader->Next(&customer));
      if (!more) break;
      TS_ASSIGN_OR_RETURN(const features::CustomerKey key,
                          features::CustomerKeyFromId(customer.customer_id));
      batch_.PutCustomer(key, events::CustomerFeaturesOf(customer));
      if (++n % kEntityChunk == 0) TS_RETURN_IF_ERROR(store_->Write(&batch_));
    }
    *rejected += reader->stats().rows_rejected;
    return store_->Write(&batch_);
  }

  std::unique_ptr<features::FeatureStore> store_;
  std::unique_ptr<ingest::Enricher> enricher_;
  features::FeatureBatch batch_;
  std::vector<ingest::EnrichOutcome> outcomes_;
  std::unique_ptr<hm::TransactionReader> reader_;
  std::string source_;  // the file's base name, for event ids
  Date until_;
  std::optional<Date> previous_;
  std::vector<ingest::EnrichInput> inputs_;
};

// The snapshot offsets of an embedded run: one "topic" naming the file and the split, with
// the epoch as partition and the examples trained in it as offset; a finished epoch also
// records the next one at 0.
std::string StreamName(const std::string& transactions_path, Date until) {
  return "embedded:" + std::filesystem::path(transactions_path).filename().string() +
         ":until=" + until.ToString();
}

void ReportRejections(const hm::LoadStats& stats) {
  for (const hm::RowError& e : stats.errors) {
    std::fprintf(stderr, "towerstream train: skipped %s\n", e.ToString().c_str());
  }
  if (stats.rows_rejected > static_cast<int64_t>(stats.errors.size())) {
    std::fprintf(stderr, "towerstream train: ... %lld bad rows in all\n",
                 static_cast<long long>(stats.rows_rejected));
  }
}

}  // namespace

Status EmbeddedOptions::Validate() const {
  if (data_dir.empty()) return Status::InvalidArgument("train: --data is required");
  if (epochs < 1) {
    return Status::InvalidArgument("train: --epochs must be at least 1, got " +
                                   std::to_string(epochs));
  }
  if (batch_size < 1) {
    return Status::InvalidArgument("train: --batch-size must be at least 1, got " +
                                   std::to_string(batch_size));
  }
  if (history_length < 0) return Status::InvalidArgument("train: --history-length is negative");
  if (ranker_days < 0) return Status::InvalidArgument("train: --ranker-days is negative");
  if (final_snapshot_patience.count() < 0) {
    return Status::InvalidArgument("train: the final snapshot's patience is negative");
  }
  return session.Validate();
}

Result<Date> LastTransactionDate(const std::string& transactions_path) {
  TS_ASSIGN_OR_RETURN(auto reader, hm::TransactionReader::Open(transactions_path));
  hm::Transaction t;
  std::optional<Date> last;
  while (true) {
    TS_ASSIGN_OR_RETURN(const bool more, reader->Next(&t));
    if (!more) break;
    if (!last || t.t_dat > *last) last = t.t_dat;
  }
  if (!last) return Status::NotFound(transactions_path + ": no transactions");
  return *last;
}

Result<EmbeddedSummary> TrainEmbedded(const EmbeddedOptions& options, SnapshotSchedule& schedule,
                                      TrainerMetrics* metrics, std::stop_token stop) {
  TS_RETURN_IF_ERROR(options.Validate());
  const auto started = SteadyClock::now();
  TS_ASSIGN_OR_RETURN(const replay::DataFiles files, replay::FindDataFiles(options.data_dir));
  for (const auto& [kind, path] : {std::pair{"articles", files.articles},
                                   {"customers", files.customers},
                                   {"transactions", files.transactions}}) {
    if (path.empty()) {
      return files.Missing("train", kind, options.data_dir);
    }
  }
  EmbeddedSummary summary;
  const auto seconds_since = [](SteadyClock::time_point from) {
    return std::chrono::duration<double>(SteadyClock::now() - from).count();
  };
  // One pass over the file gives both the default split and the rows per epoch (for the
  // progress bar): at Kaggle's size each pass reads 3.5 GB.
  std::map<Date, int64_t> rows_per_day;
  {
    TS_ASSIGN_OR_RETURN(auto reader, hm::TransactionReader::Open(files.transactions));
    hm::Transaction t;
    while (true) {
      TS_ASSIGN_OR_RETURN(const bool more, reader->Next(&t));
      if (!more) break;
      ++rows_per_day[t.t_dat];
    }
  }
  if (options.until) {
    summary.until = *options.until;
  } else {
    if (rows_per_day.empty()) return Status::NotFound(files.transactions + ": no transactions");
    summary.until = rows_per_day.rbegin()->first + (-6);  // the last 7 days are held out
  }
  int64_t rows_per_epoch = 0;
  for (auto it = rows_per_day.begin(); it != rows_per_day.end() && it->first < summary.until;
       ++it) {
    rows_per_epoch += it->second;
  }
  if (rows_per_epoch == 0) {
    return Status::InvalidArgument("train: no transaction in " + files.transactions +
                                   " is before " + summary.until.ToString() +
                                   " (--until): nothing to train on");
  }

  // The run's `until` is the date trained up to, also when the default split chose it.
  SessionOptions session_options = options.session;
  session_options.run_params["until"] = summary.until.ToString();
  TS_ASSIGN_OR_RETURN(auto session, TrainingSession::Open(session_options, metrics));
  const std::string stream = StreamName(files.transactions, summary.until);
  Offsets offsets;
  int first_epoch = 0;
  int64_t skip = 0;
  if (const snapshot::Manifest* resumed = session->resumed()) {
    const auto it = resumed->offsets.find(stream);
    if (it == resumed->offsets.end() || it->second.empty()) {
      return Status::FailedPrecondition(
          "train: the latest snapshot in " + options.session.snapshot_dir.string() +
          " comes from another run (another data file, --until or the Kafka trainer); use "
          "another --snapshot-dir to train afresh");
    }
    offsets = resumed->offsets;
    first_epoch = it->second.rbegin()->first;
    skip = it->second.rbegin()->second;
    summary.examples_skipped = static_cast<int64_t>(first_epoch) * rows_per_epoch + skip;
    std::fprintf(stderr,
                 "towerstream train: resuming from snapshot %s (epoch %d, %lld examples in)\n",
                 resumed->id.c_str(), first_epoch + 1, static_cast<long long>(skip));
  } else {
    offsets[stream][0] = 0;
  }
  summary.epochs_before = first_epoch;
  if (first_epoch >= options.epochs) {
    // Re-running a finished run: training nothing would still print a summary of zeros and
    // rewrite the snapshot, so say so and leave the snapshot as it is.
    summary.nothing_to_do = true;
    summary.snapshot_id = session->resumed()->id;
    summary.ranker =
        session->ranker() ? session->ranker()->Describe() : ranking::Ranker::TowerOnly().Describe();
    session->EndTracking(mlflow::RunStatus::kFinished);
    summary.seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
    summary.status = session->status();
    return summary;
  }

  std::unique_ptr<ProgressBar> bar;
  if (options.progress && first_epoch < options.epochs) {
    ProgressOptions p;
    p.label = "train";
    p.unit = "examples";
    p.detail = [&session] {
      const SessionStatus s = session->status();
      char text[128];
      std::snprintf(text, sizeof(text), "loss %.3f, recall@12 %.3f, recall@100 %.3f", s.loss,
                    s.recall_at_12, s.recall_at_100);
      return std::string(text);
    };
    bar = std::make_unique<ProgressBar>((options.epochs - first_epoch) * rows_per_epoch - skip, p);
  }

  StateDir state(options.state_dir);
  const auto snapshot = [&]() -> Status {
    TS_ASSIGN_OR_RETURN(summary.snapshot_id, session->Snapshot(offsets));
    schedule.Done(session->events_trained());
    return Status::Ok();
  };
  // A periodic snapshot that fails for want of space costs only its retry: training goes on,
  // and the next attempt waits a little longer each time (not after every micro-batch).
  SteadyClock::time_point next_snapshot_try{};
  std::chrono::seconds snapshot_backoff{1};
  const auto periodic_snapshot = [&]() -> Status {
    if (SteadyClock::now() < next_snapshot_try) return Status::Ok();
    const Status written = snapshot();
    if (written.ok() || written.code() != StatusCode::kIoError) {
      snapshot_backoff = std::chrono::seconds(1);
      return written;
    }
    std::fprintf(
        stderr,
        "towerstream train: warning: snapshot failed, training goes on (next try in %lld s): %s\n",
        static_cast<long long>(snapshot_backoff.count()), written.message().c_str());
    next_snapshot_try = SteadyClock::now() + snapshot_backoff;
    snapshot_backoff = std::min(2 * snapshot_backoff, std::chrono::seconds(300));
    return Status::Ok();
  };
  // The last snapshot holds the whole run: when the disk is full it is retried, with the reason
  // and what to do, for final_snapshot_patience (Ctrl-C gives up).
  const auto final_snapshot = [&]() -> Status {
    Status written = snapshot();
    const SteadyClock::time_point give_up = SteadyClock::now() + options.final_snapshot_patience;
    std::chrono::seconds pause{2};
    while (!written.ok() && written.code() == StatusCode::kIoError && !stop.stop_requested() &&
           SteadyClock::now() + pause <= give_up) {
      std::fprintf(stderr,
                   "towerstream train: the final snapshot failed: %s\n  free space in %s: "
                   "retrying in %lld s, for up to %lld s more (Ctrl-C gives up)\n",
                   written.message().c_str(), options.session.snapshot_dir.string().c_str(),
                   static_cast<long long>(pause.count()),
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(
                                              give_up - SteadyClock::now())
                                              .count()));
      const SteadyClock::time_point resume = SteadyClock::now() + pause;
      while (SteadyClock::now() < resume && !stop.stop_requested()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      written = snapshot();
      pause = std::min(2 * pause, std::chrono::seconds(60));
    }
    return written;
  };

  const Date ranker_week_start = summary.until + (-options.ranker_days);
  // A session resumed from this run's snapshot carries the ranker if it was fitted already.
  bool ranker_due = options.fit_ranker && options.ranker_days > 0 && !session->ranker();
  if (ranker_due && options.prepare_ranker) {
    options.prepare_ranker(ranker_week_start, summary.until);
  }
  const auto fit_ranker = [&]() -> Status {
    ranker_due = false;
    const auto from = SteadyClock::now();
    PrintLineOverProgress(stderr, "towerstream train: fitting the ranker on " +
                                      ranker_week_start.ToString() + " .. " +
                                      (summary.until + (-1)).ToString() +
                                      ", before the towers train on those days");
    Result<ranking::Ranker> ranker =
        options.fit_ranker(session->model(), ranker_week_start, summary.until);
    summary.ranker_seconds += seconds_since(from);
    if (!ranker.ok()) {
      // Training goes on: the towers alone still rank, and hours of training are worth more
      // than a ranker (too small a validation week is the usual cause).
      PrintLineOverProgress(stderr,
                            "towerstream train: warning: no ranker: " + ranker.status().message() +
                                "; the snapshot ranks by the towers alone");
      return Status::Ok();
    }
    session->SetRanker(std::move(*ranker));
    return Status::Ok();
  };

  int64_t ignored_rejections = 0;  // entity files' bad rows, counted on the first epoch only
  summary.setup_seconds += seconds_since(started);
  for (int epoch = first_epoch; epoch < options.epochs && !summary.interrupted; ++epoch) {
    const auto epoch_started = SteadyClock::now();
    TS_ASSIGN_OR_RETURN(
        auto enrichment,
        EpochEnrichment::Open(state.path() / ("epoch-" + std::to_string(epoch)), files,
                              summary.until, options.history_length, session->model(),
                              epoch == first_epoch ? &summary.rows_rejected : &ignored_rejections));
    summary.setup_seconds += seconds_since(epoch_started);
    int64_t& done = offsets[stream][epoch];
    int64_t seen = 0;  // examples enriched in this epoch, trained or skipped
    // One micro-batch is enriched (RocksDB, decoding) on another thread while the previous one
    // trains: the two take comparable time on a CPU.
    // Only the preparing thread adds to enrich_seconds while a batch is pending; the training
    // thread reads it after get(), which orders the two.
    const auto prepare = [&] {
      return std::async(std::launch::async, [&enrichment, &options, &summary, seconds_since] {
        const auto from = SteadyClock::now();
        Result<EpochEnrichment::Chunk> chunk = enrichment->Next(options.batch_size);
        summary.enrich_seconds += seconds_since(from);
        return chunk;
      });
    };
    std::future<Result<EpochEnrichment::Chunk>> pending = prepare();
    while (true) {
      const auto wait_from = SteadyClock::now();
      Result<EpochEnrichment::Chunk> next = pending.get();
      summary.wait_seconds += seconds_since(wait_from);
      TS_ASSIGN_OR_RETURN(EpochEnrichment::Chunk chunk, std::move(next));
      if (chunk.more) pending = prepare();
      // After a resume, the first `skip` examples of this epoch were trained already: they
      // are enriched again (histories need them) but not trained twice.
      size_t first = 0;
      if (epoch == first_epoch && seen < skip) {
        first = static_cast<size_t>(
            std::min<int64_t>(skip - seen, static_cast<int64_t>(chunk.examples.size())));
      }
      seen += static_cast<int64_t>(chunk.examples.size());
      if (ranker_due && epoch == options.epochs - 1 &&
          std::any_of(chunk.examples.begin(), chunk.examples.end(), [&](const model::Example& e) {
            return e.day >= ranker_week_start.days_since_epoch();
          })) {
        TS_RETURN_IF_ERROR(fit_ranker());
      }
      if (first < chunk.examples.size()) {
        const std::span<const model::Example> batch(chunk.examples.data() + first,
                                                    chunk.examples.size() - first);
        const std::span<const std::string> batch_ids(chunk.ids.data() + first,
                                                     chunk.ids.size() - first);
        TS_RETURN_IF_ERROR(session->TrainBatch(batch, batch_ids));
        done += static_cast<int64_t>(batch.size());
        summary.examples_trained += static_cast<int64_t>(batch.size());
        if (bar) bar->Add(static_cast<int64_t>(batch.size()));
      }
      summary.interrupted = stop.stop_requested();
      if (!summary.interrupted && schedule.Due(session->events_trained())) {
        TS_RETURN_IF_ERROR(periodic_snapshot());
      }
      if (summary.interrupted || !chunk.more) break;
    }
    if (pending.valid()) pending.wait();  // an interrupted epoch's prepared batch
    // Every epoch reads the same file: its bad rows are worth reporting once.
    if (epoch == first_epoch) {
      ReportRejections(enrichment->stats());
      summary.rows_rejected += enrichment->stats().rows_rejected;
    }
    if (!summary.interrupted) {
      offsets[stream][epoch + 1] = 0;  // this epoch is complete
      ++summary.epochs_done;
    }
  }
  if (bar) bar->Finish();
  if (ranker_due && !summary.interrupted && first_epoch + summary.epochs_done == options.epochs) {
    // The run was resumed inside the validation week without a ranker: fitting now would let
    // the towers' knowledge of the week flatter them, so the snapshot keeps the towers alone.
    std::fprintf(stderr,
                 "towerstream train: no ranker fitted (the run resumed inside the validation "
                 "week %s .. %s, or it held no purchase); the snapshot ranks by the towers "
                 "alone\n",
                 ranker_week_start.ToString().c_str(), (summary.until + (-1)).ToString().c_str());
  }
  TS_RETURN_IF_ERROR(final_snapshot());
  summary.ranker =
      session->ranker() ? session->ranker()->Describe() : ranking::Ranker::TowerOnly().Describe();
  session->EndTracking(summary.interrupted ? mlflow::RunStatus::kKilled
                                           : mlflow::RunStatus::kFinished);
  summary.seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  summary.status = session->status();
  return summary;
}

}  // namespace towerstream::trainer
