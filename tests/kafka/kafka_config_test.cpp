// Tests of KafkaConfig parsing (--kafka pairs, properties files), its conversion to librdkafka,
// option validation and the mapping of librdkafka errors to Status.
#include "common/kafka/kafka_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/kafka/consumer.h"
#include "common/kafka/errors.h"
#include "common/kafka/producer.h"

namespace towerstream::kafka {
namespace {

// Writes `text` to a fresh file under the test temp dir and returns its path.
std::string WriteTempFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "kafka_config_test_" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(KafkaConfigTest, ParseAndSetSplitsAtFirstEqualsAndTrims) {
  struct Case {
    std::string input, key, value;
  };
  const Case cases[] = {
      {"bootstrap.servers=127.0.0.1:9092", "bootstrap.servers", "127.0.0.1:9092"},
      {"sasl.jaas.config=a=b;c=d", "sasl.jaas.config", "a=b;c=d"},
      {"  linger.ms =  5 ", "linger.ms", "5"},
      {"client.id=", "client.id", ""},
  };
  for (const Case& c : cases) {
    KafkaConfig config;
    ASSERT_TRUE(config.ParseAndSet(c.input).ok()) << c.input;
    EXPECT_EQ(config.Get(c.key), c.value) << c.input;
    EXPECT_EQ(config.entries().size(), 1u) << c.input;
  }
}

TEST(KafkaConfigTest, ParseAndSetRejectsMissingKeyOrEquals) {
  for (const std::string input : {"", "bootstrap.servers", "=127.0.0.1:9092", "   =x"}) {
    KafkaConfig config;
    const Status status = config.ParseAndSet(input, "--kafka");
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << "'" << input << "'";
    EXPECT_NE(status.message().find("--kafka"), std::string::npos) << status.message();
    EXPECT_TRUE(config.entries().empty()) << "'" << input << "'";
  }
}

TEST(KafkaConfigTest, LoadFileSkipsCommentsAndBlankLines) {
  const std::string path = WriteTempFile("comments.properties",
                                         "# Kafka settings\n"
                                         "\n"
                                         "bootstrap.servers=127.0.0.1:9092\n"
                                         "   ! old-style comment\n"
                                         "  \t\n"
                                         "compression.type = lz4\r\n");
  KafkaConfig config;
  ASSERT_TRUE(config.LoadFile(path).ok());
  EXPECT_EQ(config.entries().size(), 2u);
  EXPECT_EQ(config.Get("bootstrap.servers"), "127.0.0.1:9092");
  EXPECT_EQ(config.Get("compression.type"), "lz4");
}

TEST(KafkaConfigTest, LoadFileErrorNamesFileAndLine) {
  const std::string path =
      WriteTempFile("bad.properties", "# comment\nlinger.ms=5\nthis line has no equals\n");
  KafkaConfig config;
  const Status status = config.LoadFile(path);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find(path + ":3"), std::string::npos) << status.message();
}

TEST(KafkaConfigTest, LoadFileReportsMissingFileAsNotFound) {
  KafkaConfig config;
  const Status status = config.LoadFile("/nonexistent/kafka.properties");
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_NE(status.message().find("/nonexistent/kafka.properties"), std::string::npos);
}

TEST(KafkaConfigTest, FlagsOverrideFilesAndLaterFilesOverrideEarlier) {
  const std::string first = WriteTempFile("first.properties", "linger.ms=1\nacks=1\nclient.id=a\n");
  const std::string second = WriteTempFile("second.properties", "acks=all\n");
  Result<KafkaConfig> config =
      KafkaConfigFromFlags({first, second}, {"linger.ms=50", "bootstrap.servers=127.0.0.1:1"});
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->Get("linger.ms"), "50");
  EXPECT_EQ(config->Get("acks"), "all");
  EXPECT_EQ(config->Get("client.id"), "a");
  EXPECT_EQ(config->entries().at("acks").origin, second + ":1");
  EXPECT_EQ(config->entries().at("linger.ms").origin, "--kafka");
}

TEST(KafkaConfigTest, SetDefaultKeepsValueSetByUser) {
  KafkaConfig config;
  config.Set("enable.idempotence", "false", "--kafka");
  config.SetDefault("enable.idempotence", "true");
  config.SetDefault("partitioner", "murmur2_random");
  EXPECT_EQ(config.Get("enable.idempotence"), "false");
  EXPECT_EQ(config.Get("partitioner"), "murmur2_random");
}

TEST(KafkaConfigTest, ToRdKafkaConfCarriesEveryProperty) {
  KafkaConfig config;
  config.Set("bootstrap.servers", "127.0.0.1:9092");
  config.Set("compression.type", "lz4");
  Result<std::unique_ptr<RdKafka::Conf>> conf = config.ToRdKafkaConf();
  ASSERT_TRUE(conf.ok()) << conf.status().ToString();
  std::string value;
  ASSERT_EQ((*conf)->get("compression.type", value), RdKafka::Conf::CONF_OK);
  EXPECT_EQ(value, "lz4");
}

TEST(KafkaConfigTest, ToRdKafkaConfNamesOriginOfRejectedProperty) {
  struct Case {
    std::string file_text;  // the offending line is line 2
    std::string key;
  };
  const Case cases[] = {
      {"linger.ms=5\nno.such.property=1\n", "no.such.property"},  // unknown key
      {"linger.ms=5\nacks=banana\n", "acks"},                     // invalid value
  };
  int index = 0;
  for (const Case& c : cases) {
    const std::string path =
        WriteTempFile("rejected" + std::to_string(index++) + ".properties", c.file_text);
    KafkaConfig config;
    ASSERT_TRUE(config.LoadFile(path).ok()) << c.file_text;
    const Status status = config.ToRdKafkaConf().status();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.file_text;
    EXPECT_NE(status.message().find(path + ":2"), std::string::npos) << status.message();
    EXPECT_NE(status.message().find(c.key), std::string::npos) << status.message();
  }
}

TEST(KafkaOptionsTest, ProducerRequiresBootstrapServers) {
  ProducerOptions options;
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
  options.config.Set("bootstrap.servers", "127.0.0.1:9092");
  EXPECT_TRUE(options.Validate().ok());
  EXPECT_EQ(Producer::Create(ProducerOptions{}).status().code(), StatusCode::kInvalidArgument);
}

TEST(KafkaOptionsTest, ConsumerRequiresBootstrapServersAndGroup) {
  ConsumerOptions options;
  options.config.Set("bootstrap.servers", "127.0.0.1:9092");
  EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument);
  options.group_id = "g";
  EXPECT_TRUE(options.Validate().ok());
  options.group_id.clear();
  options.config.Set("group.id", "g");
  EXPECT_TRUE(options.Validate().ok());
}

TEST(KafkaErrorsTest, MapsLibrdkafkaCodesToStatusCodes) {
  const std::pair<RdKafka::ErrorCode, StatusCode> cases[] = {
      {RdKafka::ERR_NO_ERROR, StatusCode::kOk},
      {RdKafka::ERR__MSG_TIMED_OUT, StatusCode::kUnavailable},
      {RdKafka::ERR__ALL_BROKERS_DOWN, StatusCode::kUnavailable},
      {RdKafka::ERR__TIMED_OUT, StatusCode::kDeadlineExceeded},
      {RdKafka::ERR_INVALID_REPLICATION_FACTOR, StatusCode::kInvalidArgument},
      {RdKafka::ERR_UNKNOWN_TOPIC_OR_PART, StatusCode::kNotFound},
      {RdKafka::ERR_TOPIC_ALREADY_EXISTS, StatusCode::kAlreadyExists},
      {RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED, StatusCode::kInternal},
  };
  for (const auto& [code, expected] : cases) {
    const Status status = StatusFromRdKafka(code, "ctx");
    EXPECT_EQ(status.code(), expected) << RdKafka::err2str(code);
    if (!status.ok()) {
      EXPECT_EQ(status.message().rfind("ctx: ", 0), 0u) << status.message();
    }
  }
}

}  // namespace
}  // namespace towerstream::kafka
