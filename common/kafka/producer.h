// Kafka producer over librdkafka: keyed messages with headers, delivery failures as Status.
//
// Produce() enqueues and returns at once; librdkafka delivers in the background and Flush()
// reports the first delivery failure since the previous Flush. Produce() may be called from
// several threads; Flush() and Poll() from one thread at a time. Neither copyable nor movable
// (librdkafka's callbacks point back at it): owned through the unique_ptr Create returns.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <librdkafka/rdkafkacpp.h>

#include "common/base/status.h"
#include "common/kafka/kafka_config.h"
#include "common/kafka/message.h"

namespace towerstream::kafka {

struct ProducerOptions {
  // librdkafka properties; bootstrap.servers is required. Create adds defaults where a key is
  // not set here: enable.idempotence=true (no duplicates or reordering on retry, so per-key
  // order holds) and partitioner=murmur2_random (the Java client's, so keys land on the same
  // partitions whichever client produced them).
  KafkaConfig config;
  // How long Produce waits for room when librdkafka's local queue is full before it fails:
  // longer rides out broker hiccups, shorter surfaces back-pressure sooner.
  std::chrono::milliseconds enqueue_timeout{10'000};
  // How long the destructor waits for outstanding deliveries; what is left after it is lost.
  std::chrono::milliseconds close_timeout{5'000};
  // Called with every delivery report (success or failure) on the thread serving reports
  // (the caller of Poll or Flush), after the producer's own counting: per-message metrics such
  // as delivery latency (RdKafka::Message::latency()). Runs once per message: keep it cheap.
  std::function<void(RdKafka::Message&)> on_delivery;

  Status Validate() const;
};

class Producer {
 public:
  static Result<std::unique_ptr<Producer>> Create(const ProducerOptions& options);

  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Enqueues `message` (key, value and headers are copied). Fails at once for what librdkafka
  // rejects locally (unknown partition, message too large, queue still full after
  // enqueue_timeout); failures after enqueueing are reported by Flush.
  Status Produce(const Message& message);

  // Waits until every enqueued message is delivered or failed, up to `timeout`. Returns the
  // first delivery failure since the last Flush (naming topic and partition), else
  // DeadlineExceeded when messages are still outstanding at the deadline, else OK.
  Status Flush(std::chrono::milliseconds timeout);

  // Serves delivery reports for up to `timeout`; call now and then when producing for long
  // without Flush, so that failures and counters stay current.
  void Poll(std::chrono::milliseconds timeout);

  int64_t delivered_count() const;
  int64_t failed_count() const;
  // Messages enqueued but not yet delivered or failed.
  int outstanding_count() const { return handle_->outq_len(); }

  // The librdkafka handle, for calls this class does not wrap (admin requests, transactions).
  RdKafka::Producer& handle() { return *handle_; }

 private:
  // Receives librdkafka's delivery reports and error events (on the thread calling Poll or
  // Flush) and records them in the producer.
  class Callbacks : public RdKafka::DeliveryReportCb, public RdKafka::EventCb {
   public:
    explicit Callbacks(Producer* producer) : producer_(producer) {}
    void dr_cb(RdKafka::Message& message) override;
    void event_cb(RdKafka::Event& event) override;

   private:
    Producer* producer_;
  };

  explicit Producer(const ProducerOptions& options);
  // Returns the recorded delivery failure and clears it.
  Status TakeError();

  ProducerOptions options_;
  Callbacks callbacks_{this};

  mutable std::mutex mu_;
  Status first_error_;      // guarded by mu_
  std::string last_event_;  // guarded by mu_: latest client error, e.g. "all brokers down"
  int64_t delivered_ = 0;   // guarded by mu_
  int64_t failed_ = 0;      // guarded by mu_

  // Declared last so that it is destroyed first, while the callbacks it calls still exist.
  std::unique_ptr<RdKafka::Producer> handle_;
};

}  // namespace towerstream::kafka
