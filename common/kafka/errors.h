// Turns librdkafka error codes into towerstream Status values (internal to ts_kafka).
#pragma once

#include <string_view>

#include <librdkafka/rdkafkacpp.h>

#include "common/base/status.h"

namespace towerstream::kafka {

// The Status for `code` with message "<context>: <librdkafka's text> (<code name>)"; OK for
// ERR_NO_ERROR. Unreachable brokers and expired messages map to Unavailable, local timeouts
// to DeadlineExceeded, bad arguments to InvalidArgument, unknown topics to NotFound.
Status StatusFromRdKafka(RdKafka::ErrorCode code, std::string_view context);

}  // namespace towerstream::kafka
