// Producer: librdkafka producer with delivery reports collected into a Status.
#include "common/kafka/producer.h"

#include <iostream>
#include <utility>

#include "common/kafka/errors.h"

namespace towerstream::kafka {
namespace {

std::string Where(const std::string& topic, int32_t partition) {
  std::string where = "topic '" + topic + "'";
  if (partition != kAnyPartition) where += " partition " + std::to_string(partition);
  return where;
}

}  // namespace

Status ProducerOptions::Validate() const {
  TS_RETURN_IF_ERROR(config.RequireBootstrapServers("Kafka producer"));
  if (enqueue_timeout.count() < 0 || close_timeout.count() < 0) {
    return Status::InvalidArgument("Kafka producer: timeouts must not be negative");
  }
  return Status::Ok();
}

void Producer::Callbacks::dr_cb(RdKafka::Message& message) {
  {
    std::lock_guard lock(producer_->mu_);
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      ++producer_->delivered_;
    } else {
      ++producer_->failed_;
      if (producer_->first_error_.ok()) {
        producer_->first_error_ = StatusFromRdKafka(
            message.err(), "delivery to " + Where(message.topic_name(), message.partition()));
      }
    }
  }
  if (producer_->options_.on_delivery) producer_->options_.on_delivery(message);
}

void Producer::Callbacks::event_cb(RdKafka::Event& event) {
  switch (event.type()) {
    case RdKafka::Event::EVENT_ERROR: {
      std::lock_guard lock(producer_->mu_);
      producer_->last_event_ = event.str();
      // A fatal error (e.g. the idempotent producer lost a sequence) ends this producer.
      if (event.fatal() && producer_->first_error_.ok()) {
        producer_->first_error_ =
            StatusFromRdKafka(event.err(), "fatal producer error: " + event.str());
      }
      break;
    }
    case RdKafka::Event::EVENT_LOG:
      // Setting an event callback diverts librdkafka's log lines here; keep its warnings on
      // stderr, in its own format, as without the callback.
      if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING) {
        std::cerr << "%" << event.severity() << "|" << event.fac() << "|" << event.str() << "\n";
      }
      break;
    default:
      break;
  }
}

Producer::Producer(const ProducerOptions& options) : options_(options) {}

Result<std::unique_ptr<Producer>> Producer::Create(const ProducerOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<Producer> producer(new Producer(options));
  KafkaConfig config = options.config;
  config.SetDefault("enable.idempotence", "true");
  config.SetDefault("partitioner", "murmur2_random");
  TS_ASSIGN_OR_RETURN(std::unique_ptr<RdKafka::Conf> conf, config.ToRdKafkaConf());
  std::string error;
  if (conf->set("dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&producer->callbacks_), error) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("event_cb", static_cast<RdKafka::EventCb*>(&producer->callbacks_), error) !=
          RdKafka::Conf::CONF_OK) {
    return Status::Internal("Kafka producer: cannot install callbacks: " + error);
  }
  producer->handle_.reset(RdKafka::Producer::create(conf.get(), error));
  if (!producer->handle_) {
    return Status::InvalidArgument("Kafka producer: librdkafka refused the configuration: " +
                                   error);
  }
  return producer;
}

Producer::~Producer() {
  if (!handle_) return;
  if (handle_->flush(static_cast<int>(options_.close_timeout.count())) != RdKafka::ERR_NO_ERROR) {
    // Undeliverable messages would otherwise keep librdkafka's threads busy on destroy.
    handle_->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
    handle_->poll(0);
  }
}

Status Producer::Produce(const Message& message) {
  std::unique_ptr<RdKafka::Headers> headers;
  if (!message.headers.empty()) {
    headers.reset(RdKafka::Headers::create());
    for (const Header& header : message.headers) {
      headers->add(header.key, header.value.data(), header.value.size());
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + options_.enqueue_timeout;
  while (true) {
    const RdKafka::ErrorCode code = handle_->produce(
        message.topic, message.partition, RdKafka::Producer::RK_MSG_COPY,
        const_cast<char*>(message.value.data()), message.value.size(),
        message.key ? message.key->data() : nullptr, message.key ? message.key->size() : 0,
        message.timestamp_ms, headers.get(), /*msg_opaque=*/nullptr);
    if (code == RdKafka::ERR_NO_ERROR) {
      headers.release();  // librdkafka owns the headers of an enqueued message
      return Status::Ok();
    }
    if (code != RdKafka::ERR__QUEUE_FULL || std::chrono::steady_clock::now() >= deadline) {
      return StatusFromRdKafka(code, "produce to " + Where(message.topic, message.partition));
    }
    // Serving delivery reports is what frees queue space.
    handle_->poll(10);
  }
}

Status Producer::Flush(std::chrono::milliseconds timeout) {
  const RdKafka::ErrorCode code = handle_->flush(static_cast<int>(timeout.count()));
  TS_RETURN_IF_ERROR(TakeError());
  if (code == RdKafka::ERR_NO_ERROR) return Status::Ok();
  std::string message = std::to_string(handle_->outq_len()) +
                        " Kafka messages still undelivered after " +
                        std::to_string(timeout.count()) + " ms";
  {
    std::lock_guard lock(mu_);
    if (!last_event_.empty()) message += "; last client error: " + last_event_;
  }
  return Status::DeadlineExceeded(std::move(message));
}

void Producer::Poll(std::chrono::milliseconds timeout) {
  handle_->poll(static_cast<int>(timeout.count()));
}

Status Producer::TakeError() {
  std::lock_guard lock(mu_);
  return std::exchange(first_error_, Status::Ok());
}

int64_t Producer::delivered_count() const {
  std::lock_guard lock(mu_);
  return delivered_;
}

int64_t Producer::failed_count() const {
  std::lock_guard lock(mu_);
  return failed_;
}

}  // namespace towerstream::kafka
