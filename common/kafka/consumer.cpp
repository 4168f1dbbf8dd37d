// Consumer: librdkafka KafkaConsumer with messages copied into plain values.
#include "common/kafka/consumer.h"

#include <utility>

#include "common/kafka/errors.h"

namespace towerstream::kafka {
namespace {

Message ToMessage(RdKafka::Message& raw) {
  Message message;
  message.topic = raw.topic_name();
  message.partition = raw.partition();
  message.offset = raw.offset();
  if (raw.key_pointer() != nullptr) {
    message.key.emplace(static_cast<const char*>(raw.key_pointer()), raw.key_len());
  }
  message.value.assign(static_cast<const char*>(raw.payload()), raw.len());
  if (const RdKafka::Headers* headers = raw.headers(); headers != nullptr) {
    for (const RdKafka::Headers::Header& header : headers->get_all()) {
      message.headers.push_back(
          Header{header.key(), header.value() == nullptr
                                   ? std::string()
                                   : std::string(header.value_string(), header.value_size())});
    }
  }
  message.timestamp_ms = raw.timestamp().timestamp;
  return message;
}

}  // namespace

Status ConsumerOptions::Validate() const {
  TS_RETURN_IF_ERROR(config.RequireBootstrapServers("Kafka consumer"));
  if (group_id.empty() && config.Get("group.id").value_or("").empty()) {
    return Status::InvalidArgument("Kafka consumer: no consumer group (set group.id)");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Consumer>> Consumer::Create(const ConsumerOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  KafkaConfig config = options.config;
  if (!options.group_id.empty()) config.Set("group.id", options.group_id, "ConsumerOptions");
  config.SetDefault("auto.offset.reset", "earliest");
  TS_ASSIGN_OR_RETURN(std::unique_ptr<RdKafka::Conf> conf, config.ToRdKafkaConf());
  std::unique_ptr<Consumer> consumer(new Consumer());
  std::string error;
  if (options.rebalance_cb != nullptr &&
      conf->set("rebalance_cb", options.rebalance_cb, error) != RdKafka::Conf::CONF_OK) {
    return Status::Internal("Kafka consumer: cannot install the rebalance callback: " + error);
  }
  consumer->handle_.reset(RdKafka::KafkaConsumer::create(conf.get(), error));
  if (!consumer->handle_) {
    return Status::InvalidArgument("Kafka consumer: librdkafka refused the configuration: " +
                                   error);
  }
  return consumer;
}

Consumer::~Consumer() { Close().IgnoreError(); }

Status Consumer::Subscribe(const std::vector<std::string>& topics) {
  if (closed_) return Status::FailedPrecondition("Kafka consumer: subscribe after Close");
  std::string names;
  for (const std::string& topic : topics) names += (names.empty() ? "" : ",") + topic;
  return StatusFromRdKafka(handle_->subscribe(topics), "subscribe to " + names);
}

Result<std::optional<Message>> Consumer::Poll(std::chrono::milliseconds timeout) {
  if (closed_) return Status::FailedPrecondition("Kafka consumer: poll after Close");
  const std::unique_ptr<RdKafka::Message> raw(handle_->consume(static_cast<int>(timeout.count())));
  switch (raw->err()) {
    case RdKafka::ERR_NO_ERROR:
      return std::optional<Message>(ToMessage(*raw));
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__PARTITION_EOF:
      return std::optional<Message>();
    default: {
      std::string context = "consume";
      if (!raw->topic_name().empty()) {
        context +=
            " from topic '" + raw->topic_name() + "' partition " + std::to_string(raw->partition());
      }
      return StatusFromRdKafka(raw->err(), context + ": " + raw->errstr());
    }
  }
}

Status Consumer::Commit() {
  if (closed_) return Status::FailedPrecondition("Kafka consumer: commit after Close");
  const RdKafka::ErrorCode code = handle_->commitSync();
  if (code == RdKafka::ERR__NO_OFFSET) return Status::Ok();  // nothing consumed since last
  return StatusFromRdKafka(code, "commit offsets");
}

Status Consumer::Close() {
  if (closed_ || !handle_) return Status::Ok();
  closed_ = true;
  return StatusFromRdKafka(handle_->close(), "close consumer");
}

}  // namespace towerstream::kafka
