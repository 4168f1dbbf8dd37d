// The replay engine behind `towerstream replay`: streams the H&M CSV files of a folder into
// Kafka, articles and customers first, then transactions in event-time order, paced, resumable.
//
// A Replayer owns its producer and runs on the thread that calls Run(); it records metrics into
// the Registry it is given (which must outlive it). Neither copyable nor movable.
//
// Contracts (documented for users in `towerstream replay --help`):
// - Keys and partitions: hm.articles by article_id (10 digits), hm.customers and
//   hm.transactions by customer_id; the partition is Kafka's murmur2 of the key, computed here
//   and produced explicitly. Every message has headers source.file, source.line and
//   source.fingerprint (the file's size and a sampled hash, resume.h).
// - Transactions must be sorted by t_dat (Kaggle's file and `towerstream generate`'s are): a
//   row earlier than the one before it fails the run naming file:line (no re-sorting).
// - --from is inclusive, --until exclusive, both on t_dat; they filter transactions only. With
//   --until, reading stops at the first row on or after it.
// - --resume: per topic and partition, rows whose line is <= the line of the partition's last
//   message are skipped (see resume.h); this applies to the entity files too, so nothing is
//   sent twice. Resume with the same files and filters as the interrupted run: a file whose
//   fingerprint differs from the one on a partition's last message is refused (naming the file
//   and what changed); messages of older replays without the header are accepted with a warning.
// - Bad CSV rows are reported (file:line, reason), counted, and not sent.
// - The producer is idempotent and retries without a time limit (message.timeout.ms=0), so
//   a partition never has gaps; a delivery failure all the same stops the run.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/kafka/kafka_config.h"
#include "common/replay/data_files.h"
#include "common/replay/topics.h"

namespace towerstream::kafka {
class Producer;
}

namespace towerstream::replay {

class ReplayMetrics;

struct ReplayOptions {
  // Folder with the H&M CSV files, found by their headers (FindDataFiles).
  std::string data_dir;
  // librdkafka properties; bootstrap.servers is required. Replay adds its producer defaults
  // (DefaultProducerConfig) under these; enable.idempotence may not be turned off.
  kafka::KafkaConfig kafka;
  // Partitions of the topics replay creates; hm.transactions and hm.examples must have exactly
  // this many if they exist. More partitions let more ingest instances share the work.
  int partitions = 6;
  // Copies of each partition of created topics: 1 on a single broker, 3 on a real cluster.
  int replication_factor = 1;
  // Put in front of every topic name; empty in production, unique per test run.
  std::string topic_prefix;
  // > 0: at most this many transactions per second, evenly spaced. 0: as fast as possible.
  double rate = 0;
  // > 0: play this many seconds of event time per wall second. 0: off. Excludes `rate`.
  double speedup = 0;
  // Transactions with t_dat >= from and < until; unset bounds are open.
  std::optional<Date> from;
  std::optional<Date> until;
  // Skip what an interrupted earlier run already put into the topics.
  bool resume = false;
  // Which files to send: entities (articles, customers) and transactions.
  bool send_entities = true;
  bool send_transactions = true;
  // Progress bars for each file (not owned; nullptr: none).
  std::FILE* progress_out = stderr;
  // Where bad rows are reported as they are found (not owned; nullptr: nowhere).
  std::FILE* report_out = stderr;
  // Bad rows reported per file; the rest are only counted, so a broken file cannot flood logs.
  size_t max_reported_bad_rows = 20;
  // Longest wait for the last deliveries at the end (also after an interruption).
  std::chrono::milliseconds flush_timeout{120'000};
  // Longest wait for topic creation and for reading resume points.
  std::chrono::milliseconds admin_timeout{30'000};
  // How long a produce call waits for room in the bounded local queue (broker slow or down)
  // before the run fails; long enough to ride out a broker restart.
  std::chrono::milliseconds enqueue_timeout{120'000};

  Status Validate() const;
};

// The producer properties replay sets unless the user did: idempotence, no delivery timeout,
// lz4 compression, batching for throughput, and a bounded local queue (64 MiB).
kafka::KafkaConfig DefaultProducerConfig(const kafka::KafkaConfig& user);

struct FileSummary {
  std::string file;  // path as found in the data folder
  std::string topic;
  int64_t rows_read = 0;         // rows parsed, good or bad
  int64_t rows_rejected = 0;     // bad rows: reported, not sent
  int64_t rows_filtered = 0;     // outside --from/--until
  int64_t rows_resumed = 0;      // already in the topic (--resume)
  int64_t events_sent = 0;       // handed to the producer
  int64_t events_delivered = 0;  // acknowledged by the broker
  int64_t events_failed = 0;     // delivery failed
};

struct ReplaySummary {
  std::vector<FileSummary> files;       // in the order sent
  double seconds = 0;                   // wall time of Run, final flush included
  bool interrupted = false;             // stopped by the stop token before the end
  std::optional<Date> last_event_date;  // t_dat of the last transaction sent

  int64_t events_delivered() const;
  int64_t events_failed() const;
};

class Replayer {
 public:
  // Validates `options` and finds the data files; connects to nothing yet.
  static Result<std::unique_ptr<Replayer>> Create(const ReplayOptions& options,
                                                  prometheus::Registry& registry);
  ~Replayer();
  Replayer(const Replayer&) = delete;
  Replayer& operator=(const Replayer&) = delete;

  // Creates missing topics, reads resume points if asked, sends the files and waits for the
  // deliveries. When `stop` is requested it stops reading, flushes what it produced and
  // returns OK with summary().interrupted set. Errors (bad options for the broker, unsorted
  // transactions, delivery failures) are returned after flushing; summary() is filled in
  // either way. Call once.
  Status Run(std::stop_token stop = {});

  const ReplaySummary& summary() const { return summary_; }
  const DataFiles& files() const { return files_; }
  const TopicNames& topics() const { return topics_; }

 private:
  Replayer(const ReplayOptions& options, DataFiles files);
  Status RunInternal(const std::stop_token& stop);
  template <typename Record>
  Status SendFile(const std::string& path, const std::string& topic, const std::stop_token& stop);

  ReplayOptions options_;
  DataFiles files_;
  TopicNames topics_;
  ReplaySummary summary_;
  std::unique_ptr<ReplayMetrics> metrics_;
  // Declared last: destroyed first, while the metrics its delivery callback feeds still exist.
  std::unique_ptr<kafka::Producer> producer_;
};

}  // namespace towerstream::replay
