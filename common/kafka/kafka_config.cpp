// KafkaConfig: parsing of --kafka pairs and properties files, and conversion to RdKafka::Conf.
#include "common/kafka/kafka_config.h"

#include <fstream>
#include <utility>

namespace towerstream::kafka {
namespace {

std::string_view Trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const size_t begin = text.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  const size_t end = text.find_last_not_of(kSpace);
  return text.substr(begin, end - begin + 1);
}

}  // namespace

Status KafkaConfig::ParseAndSet(std::string_view key_value, std::string_view origin) {
  const size_t equals = key_value.find('=');
  if (equals == std::string_view::npos) {
    return Status::InvalidArgument(std::string(origin) + ": '" + std::string(key_value) +
                                   "' is not key=value");
  }
  const std::string_view key = Trim(key_value.substr(0, equals));
  if (key.empty()) {
    return Status::InvalidArgument(std::string(origin) + ": '" + std::string(key_value) +
                                   "' has an empty key (expected key=value)");
  }
  Set(std::string(key), std::string(Trim(key_value.substr(equals + 1))), std::string(origin));
  return Status::Ok();
}

Status KafkaConfig::LoadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(path + ": cannot open Kafka properties file");
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    const std::string_view text = Trim(line);
    if (text.empty() || text.front() == '#' || text.front() == '!') continue;
    TS_RETURN_IF_ERROR(ParseAndSet(text, path + ":" + std::to_string(line_number)));
  }
  if (in.bad())
    return Status::IoError(path + ": read failed after line " + std::to_string(line_number));
  return Status::Ok();
}

void KafkaConfig::Set(std::string key, std::string value, std::string origin) {
  entries_.insert_or_assign(std::move(key), Entry{std::move(value), std::move(origin)});
}

void KafkaConfig::SetDefault(std::string key, std::string value) {
  if (Has(key)) return;
  Set(std::move(key), std::move(value), "default");
}

std::optional<std::string> KafkaConfig::Get(std::string_view key) const {
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second.value;
}

Status KafkaConfig::RequireBootstrapServers(std::string_view client) const {
  if (!Get("bootstrap.servers").value_or("").empty()) return Status::Ok();
  return Status::InvalidArgument(std::string(client) +
                                 ": bootstrap.servers is not set (e.g. --kafka "
                                 "bootstrap.servers=127.0.0.1:9092)");
}

Result<std::unique_ptr<RdKafka::Conf>> KafkaConfig::ToRdKafkaConf() const {
  std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  for (const auto& [key, entry] : entries_) {
    std::string error;
    if (conf->set(key, entry.value, error) != RdKafka::Conf::CONF_OK) {
      return Status::InvalidArgument(entry.origin + ": Kafka property '" + key + "=" + entry.value +
                                     "': " + error);
    }
  }
  return conf;
}

Result<KafkaConfig> KafkaConfigFromFlags(const std::vector<std::string>& config_files,
                                         const std::vector<std::string>& key_values) {
  KafkaConfig config;
  for (const std::string& file : config_files) TS_RETURN_IF_ERROR(config.LoadFile(file));
  for (const std::string& key_value : key_values) {
    TS_RETURN_IF_ERROR(config.ParseAndSet(key_value));
  }
  return config;
}

}  // namespace towerstream::kafka
