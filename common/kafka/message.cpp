// Message helpers.
#include "common/kafka/message.h"

namespace towerstream::kafka {

std::optional<std::string> Message::HeaderValue(const std::string& key) const {
  for (const Header& header : headers) {
    if (header.key == key) return header.value;
  }
  return std::nullopt;
}

}  // namespace towerstream::kafka
