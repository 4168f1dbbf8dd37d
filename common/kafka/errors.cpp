// Maps librdkafka error codes onto StatusCode, keeping librdkafka's own text.
#include "common/kafka/errors.h"

#include <string>

#include <librdkafka/rdkafka.h>

namespace towerstream::kafka {
namespace {

StatusCode CodeFor(RdKafka::ErrorCode code) {
  switch (code) {
    case RdKafka::ERR__MSG_TIMED_OUT:  // expired in the local queue: no broker took it
    case RdKafka::ERR__TRANSPORT:
    case RdKafka::ERR__ALL_BROKERS_DOWN:
    case RdKafka::ERR__RESOLVE:
    case RdKafka::ERR_BROKER_NOT_AVAILABLE:
    case RdKafka::ERR_LEADER_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_LEADER_FOR_PARTITION:
    case RdKafka::ERR_NOT_COORDINATOR:
    case RdKafka::ERR_COORDINATOR_NOT_AVAILABLE:
    case RdKafka::ERR_NETWORK_EXCEPTION:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS:
      return StatusCode::kUnavailable;
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__TIMED_OUT_QUEUE:
    case RdKafka::ERR_REQUEST_TIMED_OUT:
      return StatusCode::kDeadlineExceeded;
    case RdKafka::ERR__INVALID_ARG:
    case RdKafka::ERR_INVALID_CONFIG:
    case RdKafka::ERR_INVALID_PARTITIONS:
    case RdKafka::ERR_INVALID_REPLICATION_FACTOR:
    case RdKafka::ERR_INVALID_REQUEST:
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
    case RdKafka::ERR_TOPIC_EXCEPTION:
    case RdKafka::ERR_POLICY_VIOLATION:
      return StatusCode::kInvalidArgument;
    case RdKafka::ERR__UNKNOWN_TOPIC:
    case RdKafka::ERR__UNKNOWN_PARTITION:
    case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
      return StatusCode::kNotFound;
    case RdKafka::ERR_TOPIC_ALREADY_EXISTS:
      return StatusCode::kAlreadyExists;
    case RdKafka::ERR__QUEUE_FULL:
      return StatusCode::kUnavailable;
    default:
      return StatusCode::kInternal;
  }
}

}  // namespace

Status StatusFromRdKafka(RdKafka::ErrorCode code, std::string_view context) {
  if (code == RdKafka::ERR_NO_ERROR) return Status::Ok();
  std::string message(context);
  message += ": ";
  message += RdKafka::err2str(code);
  message += " (";
  message += rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code));
  message += ")";
  return Status(CodeFor(code), std::move(message));
}

}  // namespace towerstream::kafka
