// librdkafka properties gathered from `--kafka-config FILE` and `--kafka key=value` flags.
//
// A value type (copyable, not thread-safe to mutate concurrently). Each property remembers
// where it was set ("app.properties:12", "--kafka"), so librdkafka's rejection of a key or
// value can name the place to fix.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <librdkafka/rdkafkacpp.h>

#include "common/base/status.h"

namespace towerstream::kafka {

class KafkaConfig {
 public:
  struct Entry {
    std::string value;
    std::string origin;  // "file:line", "--kafka" or "default"
  };

  // Sets `key=value` as written after --kafka. The value may contain '=' and may be empty;
  // the key may not. Spaces around key and value are trimmed.
  Status ParseAndSet(std::string_view key_value, std::string_view origin = "--kafka");

  // Reads a Java-style properties file: one key=value per line, '#' or '!' starts a comment
  // line, blank lines are skipped, spaces around keys and values are trimmed. Later lines
  // and files override earlier ones. Errors name "path:line".
  Status LoadFile(const std::string& path);

  void Set(std::string key, std::string value, std::string origin = "code");
  // Sets `key` only when it is not set yet: components add their defaults under the user's.
  void SetDefault(std::string key, std::string value);

  std::optional<std::string> Get(std::string_view key) const;
  // InvalidArgument naming `client` unless bootstrap.servers is set and not empty.
  Status RequireBootstrapServers(std::string_view client) const;
  bool Has(std::string_view key) const { return entries_.contains(key); }
  const std::map<std::string, Entry, std::less<>>& entries() const { return entries_; }

  // A librdkafka global configuration holding every property; an unknown key or invalid
  // value fails with InvalidArgument naming the key, the value and its origin.
  Result<std::unique_ptr<RdKafka::Conf>> ToRdKafkaConf() const;

 private:
  std::map<std::string, Entry, std::less<>> entries_;
};

// The configuration a command line describes: every --kafka-config file in order, then
// every --kafka pair, so flags override files.
Result<KafkaConfig> KafkaConfigFromFlags(const std::vector<std::string>& config_files,
                                         const std::vector<std::string>& key_values);

}  // namespace towerstream::kafka
