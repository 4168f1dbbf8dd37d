// EventTimeOrderOptions::Validate; the template lives in the header.
#include "common/trainer/event_time_order.h"

#include <string>

namespace towerstream::trainer {

Status EventTimeOrderOptions::Validate() const {
  if (max_buffered < 1) {
    return Status::InvalidArgument("event-time order: at least 1 item per partition, got " +
                                   std::to_string(max_buffered));
  }
  if (idle_after.count() < 1) {
    return Status::InvalidArgument("event-time order: the wait must be at least 1 ms");
  }
  return Status::Ok();
}

}  // namespace towerstream::trainer
