// The replay engine: CSV rows -> events -> explicitly partitioned, paced, resumable produce.
#include "common/replay/replay.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <functional>
#include <type_traits>

#include <librdkafka/rdkafka.h>

#include "common/base/progress.h"
#include "common/events/event_id.h"
#include "common/events/events.h"
#include "common/hm/hm_reader.h"
#include "common/kafka/admin.h"
#include "common/kafka/errors.h"
#include "common/kafka/producer.h"
#include "common/replay/pacing.h"
#include "common/replay/partitioner.h"
#include "common/replay/replay_metrics.h"
#include "common/replay/resume.h"

namespace towerstream::replay {
namespace {

using Clock = std::chrono::steady_clock;

// Rows between the replay loop's housekeeping: serving delivery reports, checking for a stop
// request or a delivery failure, publishing metrics and drawing progress. Small enough that a
// stop is seen within a millisecond, large enough to cost nothing per row.
constexpr int64_t kHousekeepingRows = 512;
// Waits shorter than this are not slept: the next rows catch up with the schedule instead.
constexpr double kMinSleepSeconds = 0.0005;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string BaseName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

int64_t FileSize(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 ? static_cast<int64_t>(info.st_size) : 0;
}

// One event ready to go: where, and the bytes.
struct Outgoing {
  int32_t partition = 0;
  int64_t line = 0;
  std::string key;
  std::string value;
};

// Per-record-type key and encoding.
void SetKey(const events::ArticleEvent& event, std::string& key) {
  key.resize(hm::kArticleIdDigits);
  hm::FormatArticleId(event.article.article_id, key.data());
}
void SetKey(const events::CustomerEvent& event, std::string& key) {
  key.assign(event.customer.customer_id);
}
void SetKey(const events::TransactionEvent& event, std::string& key) {
  key.assign(event.transaction.customer_id);
}
std::string Encode(events::ArticleEvent& event, const std::string&, int64_t) {
  return events::EncodeArticleEvent(event);
}
std::string Encode(events::CustomerEvent& event, const std::string&, int64_t) {
  return events::EncodeCustomerEvent(event);
}
std::string Encode(events::TransactionEvent& event, const std::string& base_name, int64_t line) {
  event.event_id = events::MakeTransactionEventId(base_name, line);
  return events::EncodeTransactionEvent(event);
}

hm::Article& RecordOf(events::ArticleEvent& event) { return event.article; }
hm::Customer& RecordOf(events::CustomerEvent& event) { return event.customer; }
hm::Transaction& RecordOf(events::TransactionEvent& event) { return event.transaction; }

template <typename Record>
struct EventFor;
template <>
struct EventFor<hm::Article> {
  using type = events::ArticleEvent;
};
template <>
struct EventFor<hm::Customer> {
  using type = events::CustomerEvent;
};
template <>
struct EventFor<hm::Transaction> {
  using type = events::TransactionEvent;
};

// Sends Outgoing events of one file to one topic with the source headers. The hot path of
// replay, so it calls librdkafka's C API directly: a topic handle held for the whole file and
// headers passed by value spare the per-message topic lookup and header objects of the C++
// API (kafka::Producer::Produce), about 15% of the replay thread's CPU. Lives for one file.
class FileSender {
 public:
  FileSender(kafka::Producer& producer, ReplayMetrics& metrics, const std::string& topic,
             const std::string& base_name, const std::string& fingerprint,
             std::chrono::milliseconds enqueue_timeout)
      : producer_(producer),
        metrics_(metrics),
        topic_name_(topic),
        base_name_(base_name),
        fingerprint_(fingerprint),
        enqueue_timeout_(enqueue_timeout),
        topic_(rd_kafka_topic_new(producer.handle().c_ptr(), topic.c_str(), nullptr)) {}

  Status Send(const Outgoing& out) {
    if (topic_ == nullptr) {
      return kafka::StatusFromRdKafka(static_cast<RdKafka::ErrorCode>(rd_kafka_last_error()),
                                      "topic handle for '" + topic_name_ + "'");
    }
    char line[24];
    const size_t line_size =
        static_cast<size_t>(std::to_chars(line, line + sizeof(line), out.line).ptr - line);
    std::optional<Clock::time_point> deadline;
    while (true) {
      // The macros cast away const: with RD_KAFKA_MSG_F_COPY librdkafka only reads the bytes.
      const rd_kafka_resp_err_t code = rd_kafka_producev(
          producer_.handle().c_ptr(), RD_KAFKA_V_RKT(topic_.get()),
          RD_KAFKA_V_PARTITION(out.partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
          RD_KAFKA_V_VALUE(const_cast<char*>(out.value.data()), out.value.size()),
          RD_KAFKA_V_KEY(out.key.data(), out.key.size()),
          RD_KAFKA_V_HEADER(kSourceFileHeader.data(), base_name_.data(),
                            static_cast<ssize_t>(base_name_.size())),
          RD_KAFKA_V_HEADER(kSourceLineHeader.data(), line, static_cast<ssize_t>(line_size)),
          RD_KAFKA_V_HEADER(kSourceFingerprintHeader.data(), fingerprint_.data(),
                            static_cast<ssize_t>(fingerprint_.size())),
          RD_KAFKA_V_END);
      if (code == RD_KAFKA_RESP_ERR_NO_ERROR) return Status::Ok();
      // A full local queue is back-pressure: serve delivery reports (which free room) and
      // retry until enqueue_timeout.
      if (code == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        if (!deadline) deadline = Clock::now() + enqueue_timeout_;
        if (Clock::now() < *deadline) {
          producer_.Poll(std::chrono::milliseconds(10));
          continue;
        }
      }
      metrics_.AddLocalError(topic_name_);
      return kafka::StatusFromRdKafka(
          static_cast<RdKafka::ErrorCode>(code),
          "produce to topic '" + topic_name_ + "' partition " + std::to_string(out.partition));
    }
  }

 private:
  struct TopicDeleter {
    void operator()(rd_kafka_topic_t* topic) const { rd_kafka_topic_destroy(topic); }
  };

  kafka::Producer& producer_;
  ReplayMetrics& metrics_;
  const std::string topic_name_;
  const std::string base_name_;
  const std::string fingerprint_;
  const std::chrono::milliseconds enqueue_timeout_;
  std::unique_ptr<rd_kafka_topic_t, TopicDeleter> topic_;
};

template <typename Record>
constexpr hm::FileKind KindOf() {
  if constexpr (std::is_same_v<Record, hm::Article>) return hm::FileKind::kArticles;
  if constexpr (std::is_same_v<Record, hm::Customer>) return hm::FileKind::kCustomers;
  return hm::FileKind::kTransactions;
}

// Rows in the CSV file at `path`, estimated from the line density of its first MiB (exact for
// a smaller file): the progress bar's total, known before reading without a pass over the file.
int64_t EstimateRows(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return 0;
  std::string sample(1 << 20, '\0');
  sample.resize(std::fread(sample.data(), 1, sample.size(), file));
  std::fclose(file);
  const auto lines = static_cast<double>(std::count(sample.begin(), sample.end(), '\n'));
  if (sample.empty() || lines == 0) return 0;
  const double size = static_cast<double>(std::max<int64_t>(FileSize(path), sample.size()));
  return std::max<int64_t>(0, static_cast<int64_t>(size / sample.size() * lines) - 1);
}

// A progress bar for one file, counting rows read (sent, filtered, skipped or rejected).
class FileProgress {
 public:
  FileProgress(const std::string& path, hm::FileKind kind, std::FILE* out) {
    if (out == nullptr) return;
    ProgressOptions options;
    options.label = std::string(hm::FileKindName(kind));
    options.unit = "rows";
    options.out = out;
    bar_ = std::make_unique<ProgressBar>(EstimateRows(path), std::move(options));
  }

  void Update(int64_t rows_read) {
    if (!bar_) return;
    bar_->Add(rows_read - shown_);
    shown_ = rows_read;
  }
  void Finish() {
    if (bar_) bar_->Finish();
  }

 private:
  std::unique_ptr<ProgressBar> bar_;
  int64_t shown_ = 0;
};

// Holds transactions back per --rate (a token bucket) or --speedup (each day's events spread
// over its wall-time slot). Waits by serving delivery reports, in slices, and stops waiting
// when `keep_going` says the run must end. Without either option it never waits.
class Pacer {
 public:
  Pacer(const ReplayOptions& options, kafka::Producer& producer, std::function<bool()> keep_going)
      : producer_(producer),
        keep_going_(std::move(keep_going)),
        speedup_(options.speedup),
        start_(Clock::now()) {
    // A burst of 10 ms worth of events (at least one) keeps the stream smooth.
    if (options.rate > 0) limiter_.emplace(options.rate, std::max(1.0, options.rate / 100));
  }

  bool holds_days() const { return speedup_ > 0; }

  // Books one event with the rate limiter and waits for its turn; false: stop instead.
  bool AwaitRate() { return !limiter_ || AwaitSeconds(limiter_->Acquire(Seconds(start_))); }

  // Waits for event `index` of the `count` of `day` under --speedup; false: stop instead. The
  // first day seen is played at once.
  bool AwaitScheduled(Date day, int64_t index, int64_t count) {
    if (!schedule_) {
      schedule_.emplace(speedup_, day);
      start_ = Clock::now();
    }
    return AwaitSeconds(schedule_->DueSeconds(day, index, count));
  }

 private:
  // Waits until `due` seconds after the start.
  bool AwaitSeconds(double due) {
    while (true) {
      const double wait = due - Seconds(start_);
      if (wait < kMinSleepSeconds) return true;
      if (!keep_going_()) return false;
      const int64_t slice_ms = std::clamp<int64_t>(static_cast<int64_t>(wait * 1000), 1, 100);
      producer_.Poll(std::chrono::milliseconds(slice_ms));
    }
  }

  kafka::Producer& producer_;
  std::function<bool()> keep_going_;
  const double speedup_;
  Clock::time_point start_;
  std::optional<RateLimiter> limiter_;
  std::optional<SpeedupSchedule> schedule_;
};

}  // namespace

Status ReplayOptions::Validate() const {
  if (data_dir.empty()) return Status::InvalidArgument("replay: --data is required");
  TS_RETURN_IF_ERROR(kafka.RequireBootstrapServers("replay"));
  if (kafka.Get("enable.idempotence") == std::optional<std::string>("false")) {
    return Status::InvalidArgument(
        "replay: enable.idempotence=false is not allowed: --resume relies on the idempotent "
        "producer never duplicating or reordering a partition's messages");
  }
  if (partitions < 1) {
    return Status::InvalidArgument("replay: --partitions must be >= 1, got " +
                                   std::to_string(partitions));
  }
  if (replication_factor < 1) {
    return Status::InvalidArgument("replay: replication factor must be >= 1");
  }
  if (rate < 0 || speedup < 0) {
    return Status::InvalidArgument("replay: --rate and --speedup must be > 0");
  }
  if (rate > 0 && speedup > 0) {
    return Status::InvalidArgument("replay: --rate and --speedup exclude each other");
  }
  if (from && until && !(*from < *until)) {
    return Status::InvalidArgument("replay: --from " + from->ToString() +
                                   " must be before --until " + until->ToString() +
                                   " (--until is exclusive)");
  }
  if (!send_entities && !send_transactions) {
    return Status::InvalidArgument("replay: nothing to send (entities and transactions both off)");
  }
  if (flush_timeout.count() <= 0 || admin_timeout.count() <= 0 || enqueue_timeout.count() <= 0) {
    return Status::InvalidArgument("replay: timeouts must be > 0");
  }
  return Status::Ok();
}

kafka::KafkaConfig DefaultProducerConfig(const kafka::KafkaConfig& user) {
  kafka::KafkaConfig config = user;
  config.SetDefault("client.id", "towerstream-replay");
  config.SetDefault("enable.idempotence", "true");
  // Retry until delivered: a message that times out can leave a gap in its partition (later
  // ones delivered after an epoch bump), which --resume (last line per partition) could not
  // see. A broker outage then stalls the replay (bounded by enqueue_timeout) instead.
  config.SetDefault("message.timeout.ms", "0");
  // lz4 over zstd and a 5 ms linger over 1 or 20 ms: on the 2-core machine with the broker
  // beside it (replay_bench, medians of 4) lz4 gave ~640k events/s against zstd's ~480k, and
  // 5 ms beat 1 ms (~560k) and 20 ms (~520k). zstd packs this JSON twice as tightly (7x
  // against 3.6x), which pays only where the network rather than the CPU is the limit: set
  // --kafka compression.type=zstd there. Both are built into Debian 12's librdkafka 2.0.2.
  config.SetDefault("compression.type", "lz4");
  config.SetDefault("linger.ms", "5");
  // Bounded local queue: the producer blocks (back-pressure) rather than buffering a file.
  config.SetDefault("queue.buffering.max.kbytes", "65536");
  config.SetDefault("queue.buffering.max.messages", "200000");
  return config;
}

int64_t ReplaySummary::events_delivered() const {
  int64_t total = 0;
  for (const FileSummary& file : files) total += file.events_delivered;
  return total;
}

int64_t ReplaySummary::events_failed() const {
  int64_t total = 0;
  for (const FileSummary& file : files) total += file.events_failed;
  return total;
}

Replayer::Replayer(const ReplayOptions& options, DataFiles files)
    : options_(options),
      files_(std::move(files)),
      topics_(TopicNames::WithPrefix(options.topic_prefix)) {}

Replayer::~Replayer() = default;

Result<std::unique_ptr<Replayer>> Replayer::Create(const ReplayOptions& options,
                                                   prometheus::Registry& registry) {
  TS_RETURN_IF_ERROR(options.Validate());
  TS_ASSIGN_OR_RETURN(DataFiles files, FindDataFiles(options.data_dir));
  const auto require = [&](const std::string& path, std::string_view what) -> Status {
    if (!path.empty()) return Status::Ok();
    return files.Missing("replay", what, options.data_dir);
  };
  if (options.send_entities) {
    TS_RETURN_IF_ERROR(require(files.articles, "articles"));
    TS_RETURN_IF_ERROR(require(files.customers, "customers"));
  }
  if (options.send_transactions) TS_RETURN_IF_ERROR(require(files.transactions, "transactions"));

  std::unique_ptr<Replayer> replayer(new Replayer(options, std::move(files)));
  const TopicNames& topics = replayer->topics_;
  replayer->metrics_ = std::make_unique<ReplayMetrics>(
      registry, std::vector<std::string>{topics.articles, topics.customers, topics.transactions});
  kafka::ProducerOptions producer_options;
  producer_options.config = DefaultProducerConfig(options.kafka);
  producer_options.enqueue_timeout = options.enqueue_timeout;
  producer_options.close_timeout = options.flush_timeout;
  ReplayMetrics* metrics = replayer->metrics_.get();
  producer_options.on_delivery = [metrics](RdKafka::Message& message) {
    metrics->OnDelivery(message);
  };
  TS_ASSIGN_OR_RETURN(replayer->producer_, kafka::Producer::Create(producer_options));
  return replayer;
}

Status Replayer::Run(std::stop_token stop) {
  const Clock::time_point start = Clock::now();
  Status status = RunInternal(stop);
  // Whatever happened, wait for what was produced, so that the summary counts it and an
  // interrupted run leaves nothing in flight.
  const Status flushed = producer_->Flush(options_.flush_timeout);
  if (status.ok()) {
    status = flushed;
  } else if (!flushed.ok()) {
    status = Status(status.code(), status.message() + "; then: " + flushed.message());
  }
  metrics_->Publish();
  for (FileSummary& file : summary_.files) {
    file.events_delivered = metrics_->delivered(file.topic);
    file.events_failed = metrics_->failed(file.topic);
  }
  summary_.seconds = Seconds(start);
  if (status.ok() && summary_.events_failed() > 0) {
    status = Status::Unavailable(std::to_string(summary_.events_failed()) +
                                 " events were not delivered");
  }
  return status;
}

Status Replayer::RunInternal(const std::stop_token& stop) {
  TS_RETURN_IF_ERROR(EnsureTopics(*producer_, topics_, options_.partitions,
                                  options_.replication_factor, options_.admin_timeout));
  if (options_.send_entities) {
    TS_RETURN_IF_ERROR(SendFile<hm::Article>(files_.articles, topics_.articles, stop));
    if (summary_.interrupted) return Status::Ok();
    TS_RETURN_IF_ERROR(SendFile<hm::Customer>(files_.customers, topics_.customers, stop));
    if (summary_.interrupted) return Status::Ok();
    // Entities acknowledged before the first transaction, so that a consumer starting now
    // finds them.
    TS_RETURN_IF_ERROR(producer_->Flush(options_.flush_timeout));
  }
  if (options_.send_transactions) {
    TS_RETURN_IF_ERROR(SendFile<hm::Transaction>(files_.transactions, topics_.transactions, stop));
  }
  return Status::Ok();
}

template <typename Record>
Status Replayer::SendFile(const std::string& path, const std::string& topic,
                          const std::stop_token& stop) {
  constexpr bool kTransactions = std::is_same_v<Record, hm::Transaction>;
  summary_.files.push_back(FileSummary{.file = path, .topic = topic});
  FileSummary& file = summary_.files.back();
  const std::string base_name = BaseName(path);

  TS_ASSIGN_OR_RETURN(const int partitions,
                      kafka::PartitionCount(*producer_, topic, options_.admin_timeout));
  // Every message carries it, so that a later --resume can tell whether the file changed.
  TS_ASSIGN_OR_RETURN(const FileFingerprint fingerprint, FingerprintFile(path));
  ResumePoint resume;
  if (options_.resume) {
    TS_ASSIGN_OR_RETURN(
        resume, ReadResumePoint(options_.kafka, topic, path, fingerprint, options_.admin_timeout));
    if (resume.unfingerprinted_partitions() > 0 && options_.report_out != nullptr) {
      std::fprintf(options_.report_out,
                   "replay: warning: %d partition(s) of topic '%s' were last written by a replay "
                   "that recorded no '%s' header: resuming on the file name and lines alone, "
                   "without checking that %s is unchanged\n",
                   resume.unfingerprinted_partitions(), topic.c_str(),
                   std::string(kSourceFingerprintHeader).c_str(), base_name.c_str());
    }
  }
  hm::ReaderOptions reader_options;
  reader_options.max_errors_kept = options_.max_reported_bad_rows;
  TS_ASSIGN_OR_RETURN(std::unique_ptr<hm::RecordReader<Record>> reader,
                      hm::RecordReader<Record>::Open(path, reader_options));
  const hm::LoadStats& stats = reader->stats();

  FileProgress progress(path, KindOf<Record>(), options_.progress_out);
  FileSender sender(*producer_, *metrics_, topic, base_name, fingerprint.ToString(),
                    options_.enqueue_timeout);
  int64_t rejected_published = 0;
  Status failure;
  // Serves delivery reports, publishes metrics and progress.
  const auto serve = [&] {
    producer_->Poll(std::chrono::milliseconds(0));
    metrics_->AddRejected(path, stats.rows_rejected - rejected_published);
    rejected_published = stats.rows_rejected;
    metrics_->Publish();
    progress.Update(stats.rows_read);
  };
  // serve(), then whether the run goes on: false after a delivery failure or a stop request.
  const auto keep_going = [&]() -> bool {
    serve();
    if (producer_->failed_count() > 0 && failure.ok()) {
      failure = Status::Unavailable("a delivery failed; stopping");
    }
    if (stop.stop_requested()) summary_.interrupted = true;
    return failure.ok() && !summary_.interrupted;
  };
  Pacer pacer(options_, *producer_, keep_going);
  const auto send = [&](const Outgoing& out) -> bool {
    failure = sender.Send(out);
    ++file.events_sent;
    return failure.ok();
  };
  // --speedup: a day's events are held until the day is complete, then spread over its slot.
  std::vector<Outgoing> held_day;
  Date held_date;
  const auto send_held_day = [&]() -> bool {
    const int64_t count = static_cast<int64_t>(held_day.size());
    for (int64_t i = 0; i < count; ++i) {
      if (!pacer.AwaitScheduled(held_date, i, count) || !send(held_day[i])) return false;
    }
    held_day.clear();
    return true;
  };

  typename EventFor<Record>::type event;
  Record& record = RecordOf(event);
  Outgoing out;
  size_t reported = 0;
  Date previous_date;
  int64_t previous_line = 0;
  while (true) {
    Result<bool> next = reader->Next(&record);
    if (!next.ok()) {
      failure = next.status();
      break;
    }
    if (!*next) break;
    const int64_t line = reader->line();
    for (; reported < stats.errors.size(); ++reported) {
      if (options_.report_out == nullptr) continue;
      std::fprintf(options_.report_out, "replay: bad row, not sent: %s\n",
                   stats.errors[reported].ToString().c_str());
    }
    if (stats.rows_read % kHousekeepingRows == 0 && !keep_going()) break;

    if constexpr (kTransactions) {
      const Date date = record.t_dat;
      if (previous_line > 0 && date < previous_date) {
        failure = Status::InvalidArgument(
            path + ":" + std::to_string(line) + ": t_dat " + date.ToString() + " is earlier than " +
            previous_date.ToString() + " on line " + std::to_string(previous_line) +
            ": replay needs transactions sorted by t_dat (as Kaggle's file and `towerstream "
            "generate`'s are); sort the rows by t_dat, keeping the header line first");
        break;
      }
      previous_date = date;
      previous_line = line;
      if (options_.until && !(date < *options_.until)) break;  // sorted: nothing later fits
      if (options_.from && date < *options_.from) {
        ++file.rows_filtered;
        continue;
      }
    }
    SetKey(event, out.key);
    out.partition = PartitionForKey(out.key, partitions);
    out.line = line;
    if (resume.AlreadySent(out.partition, line)) {
      ++file.rows_resumed;
      continue;
    }
    out.value = Encode(event, base_name, line);
    if constexpr (kTransactions) {
      metrics_->SetEventTime(record.t_dat);
      summary_.last_event_date = record.t_dat;
      if (pacer.holds_days()) {
        if (!held_day.empty() && held_date != record.t_dat && !send_held_day()) break;
        held_date = record.t_dat;
        held_day.push_back(std::move(out));
        out = Outgoing();
        continue;
      }
    }
    if (!pacer.AwaitRate() || !send(out)) break;
  }
  if (failure.ok() && !summary_.interrupted) send_held_day();
  serve();
  progress.Finish();
  file.rows_read = stats.rows_read;
  file.rows_rejected = stats.rows_rejected;
  if (options_.report_out != nullptr && file.rows_rejected > static_cast<int64_t>(reported)) {
    std::fprintf(options_.report_out, "replay: %s: %lld more bad rows not shown\n",
                 base_name.c_str(), static_cast<long long>(file.rows_rejected - reported));
  }
  return failure;
}

}  // namespace towerstream::replay
