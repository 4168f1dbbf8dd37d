// The trainer service (`towerstream trainer`): hm.examples -> micro-batches -> the two towers,
// with progressive validation, Prometheus metrics, an admin HTTP API and exact resume.
//
// A Trainer reads every partition of hm.examples (read_committed) from the offsets of the
// latest snapshot, decodes each message (undecodable ones go to hm.dlq with their reason),
// merges the partitions into event-time order (EventTimeOrder), trains micro-batches of
// --batch-size examples (or whatever arrived within
// --max-batch-delay-ms), and writes snapshots on its schedule, on request (SIGUSR1, POST
// /snapshot) and when stopped. A snapshot holds the offsets after the last trained batch, so a
// restart trains every example exactly once. Run() is called from one thread; the admin server
// answers from its own. Neither copyable nor movable.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>

#include <prometheus/registry.h>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/distributed/group.h"
#include "common/events/events.h"
#include "common/kafka/kafka_config.h"
#include "common/trainer/event_time_order.h"
#include "common/trainer/snapshot_schedule.h"
#include "common/trainer/training_session.h"

namespace towerstream::trainer {

struct TrainerOptions {
  // librdkafka properties for the consumer and the dead-letter producer; bootstrap.servers is
  // required. The trainer sets isolation.level=read_committed and no auto commit.
  kafka::KafkaConfig kafka;
  // Put in front of every topic name and the consumer group (tests, tenants).
  std::string topic_prefix;
  // The consumer group the trainer commits its snapshot offsets to, so that Kafka's tools
  // show its lag; the snapshot, not the group, is what a restart resumes from.
  std::string group = "towerstream-trainer";
  // Model, snapshots and progressive validation.
  SessionOptions session;
  // Most examples per micro-batch (one training step). In-batch softmax gets more negatives
  // from larger batches; its cost grows with the square of the size on a CPU.
  int64_t batch_size = 512;
  // Longest a micro-batch waits to fill up: bounds the delay between a purchase and the model
  // learning from it when the stream is slow.
  std::chrono::milliseconds max_batch_delay{1000};
  // Train in event-time order across partitions (EventTimeOrder), as the embedded trainer
  // reads the file, rather than in the order the consumer delivers; `order.idle_after` is the
  // longest a partition behind in event time holds the others back. Off: arrival order.
  bool order_by_event_time = true;
  EventTimeOrderOptions order;
  // Periodic snapshots (by time or by events); requests and stopping snapshot regardless.
  SnapshotEvery snapshot_every{.events = 0, .time = std::chrono::minutes(5)};
  // The admin HTTP API: HOST:PORT ('' disables it) and, required beyond loopback, the bearer
  // token every request must carry.
  std::string admin_address = "127.0.0.1:9404";
  std::string admin_token;
  // Limits on decoded examples: payload size, and the longest history accepted (ingest's
  // --history-length goes up to 1000; the model uses the last history_length of it).
  events::DecodeOptions decode{.max_payload_bytes = 64 * 1024, .max_recent_articles = 1000};
  // The ranker (ranking::Ranker), as `train` fits it: when the stream first reaches the
  // validation week [ranker_week_start, +ranker_days), the towers as they are then (not yet
  // trained on it) go to `fit_ranker`, which reads the week from the files the stream came
  // from; later snapshots carry the result. Unset: snapshots rank by the towers alone.
  std::optional<Date> ranker_week_start;
  int ranker_days = 7;
  std::function<Result<ranking::Ranker>(model::TwoTowerModel& model, Date week_start,
                                        Date week_end)>
      fit_ranker;
  // A data-parallel group (docs/design.md, "Trainers as a group"): with world_size > 1 this
  // trainer is rank parallel.rank and reads the hm.examples partitions p with
  // p % world_size == rank; the ranks step together, rank 0 writes the group's snapshots (with
  // every rank's customer shard), and a rank's death makes the others rejoin and resume from
  // the last complete one. The ranker is not fitted in a group (fit_ranker must be unset).
  distributed::GroupOptions parallel;

  Status Validate() const;
};

class Trainer {
 public:
  // Opens the session (resuming from the latest snapshot), the Kafka clients and the admin
  // server. Metrics go to `registry`, which must outlive the Trainer.
  static Result<std::unique_ptr<Trainer>> Create(const TrainerOptions& options,
                                                 prometheus::Registry& registry);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains until `stop` is requested, then writes a final snapshot and returns. A partial
  // micro-batch in hand when stopping is not trained: its offsets are not in the snapshot, so
  // the next run reads it again. Errors only for what retrying cannot fix (a broken snapshot
  // folder, a model failure).
  Status Run(std::stop_token stop);

  // Thread-safe: a snapshot at the next micro-batch boundary (SIGUSR1).
  void RequestSnapshot();
  // The admin server's bound address ("" when disabled), e.g. for tests using port 0.
  std::string admin_address() const;

 private:
  class Impl;
  explicit Trainer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace towerstream::trainer
