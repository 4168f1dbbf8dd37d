// Unit tests of replay's pieces that need no broker: resume points, file fingerprints, data
// folder scanning, topic names and specs, options validation and producer defaults.
#include <gtest/gtest.h>

#include <string>

#include "common/hm/records.h"
#include "common/replay/data_files.h"
#include "common/replay/replay.h"
#include "common/replay/resume.h"
#include "common/replay/topics.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::replay {
namespace {

TEST(ResumePointTest, SkipsLinesUpToEachPartitionsLastLine) {
  const ResumePoint resume({/*p0=*/10, /*p1=*/0, /*p2=*/25});
  struct Case {
    int32_t partition;
    int64_t line;
    bool sent;
  };
  for (const Case& c : {Case{0, 2, true}, Case{0, 10, true}, Case{0, 11, false}, Case{1, 2, false},
                        Case{2, 25, true}, Case{2, 26, false}, Case{3, 1, false}}) {
    EXPECT_EQ(resume.AlreadySent(c.partition, c.line), c.sent)
        << "partition " << c.partition << " line " << c.line;
  }
}

TEST(ResumePointTest, EmptyResumePointSkipsNothing) {
  EXPECT_FALSE(ResumePoint().AlreadySent(0, 2));
}

FileFingerprint Fingerprint(const std::string& path) {
  Result<FileFingerprint> fingerprint = FingerprintFile(path);
  EXPECT_TRUE(fingerprint.ok()) << fingerprint.status().ToString();
  return fingerprint.ok() ? *fingerprint : FileFingerprint{};
}

constexpr std::string_view kRows =
    "t_dat,customer_id,article_id,price,sales_channel_id\n"
    "2020-01-01,00a1,0108775015,0.05,2\n"
    "2020-01-02,00b2,0108775044,0.03,1\n";

TEST(FileFingerprintTest, SameContentSameFingerprintWhateverTheFileName) {
  testing::ScopedTempDir dir;
  const FileFingerprint a = Fingerprint(dir.WriteFile("a.csv", kRows));
  const FileFingerprint b = Fingerprint(dir.WriteFile("copy.csv", kRows));
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.size, static_cast<int64_t>(kRows.size()));
}

TEST(FileFingerprintTest, ChangesWithAnAppendedOrEditedRow) {
  testing::ScopedTempDir dir;
  const FileFingerprint original = Fingerprint(dir.WriteFile("t.csv", kRows));
  const FileFingerprint appended = Fingerprint(
      dir.WriteFile("t.csv", std::string(kRows) + "2020-01-03,00c3,0108775051,0.02,2\n"));
  EXPECT_NE(appended.size, original.size);
  std::string edited(kRows);
  edited[edited.size() - 2] = '2';  // the last row's sales channel, 1 before: same size
  const FileFingerprint same_size = Fingerprint(dir.WriteFile("t.csv", edited));
  EXPECT_EQ(same_size.size, original.size);
  EXPECT_NE(same_size.sample_xxh3, original.sample_xxh3);
  EXPECT_NE(original.DescribeChangeTo(same_size).find("same size"), std::string::npos)
      << original.DescribeChangeTo(same_size);
  EXPECT_NE(original.DescribeChangeTo(appended).find("bytes then"), std::string::npos)
      << original.DescribeChangeTo(appended);
}

TEST(FileFingerprintTest, LargeFileSamplesFirstAndLastBlocks) {
  testing::ScopedTempDir dir;
  // Larger than the whole-file limit, so only the sampled blocks are read.
  std::string content(static_cast<size_t>(kFingerprintBlocks * kFingerprintBlockBytes * 2), 'x');
  const FileFingerprint original = Fingerprint(dir.WriteFile("big.csv", content));
  for (size_t position : {size_t{0}, content.size() - 1}) {
    std::string edited = content;
    edited[position] = 'y';
    EXPECT_NE(Fingerprint(dir.WriteFile("big.csv", edited)), original) << "byte " << position;
  }
}

TEST(FileFingerprintTest, TextRoundTripsAndBadTextIsRejected) {
  const FileFingerprint fingerprint{.size = 3486628832, .sample_xxh3 = 0x0123456789abcdefULL};
  EXPECT_EQ(fingerprint.ToString(), "size=3486628832 xxh3-sample=0123456789abcdef");
  EXPECT_EQ(FileFingerprint::Parse(fingerprint.ToString()), fingerprint);
  for (std::string_view bad :
       {"", "size=12", "size=x xxh3-sample=0123456789abcdef", "size=12 xxh3-sample=0123",
        "size=-1 xxh3-sample=0123456789abcdef", "size=12 xxh3-sample=0123456789abcdeg"}) {
    EXPECT_FALSE(FileFingerprint::Parse(bad).has_value()) << bad;
  }
}

TEST(FileFingerprintTest, MissingFileIsAnErrorNamingIt) {
  Result<FileFingerprint> fingerprint = FingerprintFile("/nonexistent/transactions_train.csv");
  ASSERT_FALSE(fingerprint.ok());
  EXPECT_NE(fingerprint.status().message().find("/nonexistent/transactions_train.csv"),
            std::string::npos);
}

std::string Header(std::string_view header) { return std::string(header) + "\n"; }

TEST(FindDataFilesTest, FindsTheThreeFilesByHeaderWhateverTheirNames) {
  testing::ScopedTempDir dir;
  const std::string articles = dir.WriteFile("a.csv", Header(hm::kArticlesHeader));
  const std::string customers = dir.WriteFile("people.csv", Header(hm::kCustomersHeader));
  const std::string transactions =
      dir.WriteFile("transactions_raw_1k.csv", Header(hm::kTransactionsHeader));
  dir.WriteFile("sample_submission.csv", "customer_id,prediction\n");
  dir.WriteFile("notes.txt", Header(hm::kTransactionsHeader));
  Result<DataFiles> files = FindDataFiles(dir.path());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->articles, articles);
  EXPECT_EQ(files->customers, customers);
  EXPECT_EQ(files->transactions, transactions);
}

TEST(FindDataFilesTest, LeavesMissingKindsEmpty) {
  testing::ScopedTempDir dir;
  dir.WriteFile("transactions_train.csv", Header(hm::kTransactionsHeader));
  Result<DataFiles> files = FindDataFiles(dir.path());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_TRUE(files->articles.empty());
  EXPECT_TRUE(files->customers.empty());
  EXPECT_FALSE(files->transactions.empty());
}

TEST(FindDataFilesTest, RejectsTwoFilesOfOneKind) {
  testing::ScopedTempDir dir;
  dir.WriteFile("t1.csv", Header(hm::kTransactionsHeader));
  dir.WriteFile("t2.csv", Header(hm::kTransactionsHeader));
  Result<DataFiles> files = FindDataFiles(dir.path());
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.status().message().find("t1.csv"), std::string::npos);
  EXPECT_NE(files.status().message().find("t2.csv"), std::string::npos);
}

TEST(FindDataFilesTest, FailsOnMissingFolder) {
  EXPECT_EQ(FindDataFiles("/nonexistent/towerstream").status().code(), StatusCode::kIoError);
}

TEST(TopicNamesTest, PrefixesTheContractNames) {
  const TopicNames plain = TopicNames::WithPrefix("");
  EXPECT_EQ(plain.articles, "hm.articles");
  EXPECT_EQ(plain.customers, "hm.customers");
  EXPECT_EQ(plain.transactions, "hm.transactions");
  EXPECT_EQ(plain.examples, "hm.examples");
  EXPECT_EQ(plain.dlq, "hm.dlq");
  EXPECT_EQ(TopicNames::WithPrefix("t7.").transactions, "t7.hm.transactions");
}

TEST(TopicSpecsTest, CompactsEntitiesAndKeepsStreams) {
  const TopicNames names = TopicNames::WithPrefix("");
  std::map<std::string, kafka::TopicSpec> specs;
  for (const kafka::TopicSpec& spec : TopicSpecs(names, 4, 1)) specs[spec.name] = spec;
  ASSERT_EQ(specs.size(), 5u);
  for (const auto& [name, spec] : specs) EXPECT_EQ(spec.partitions, 4) << name;
  EXPECT_EQ(specs[names.articles].configs.at("cleanup.policy"), "compact");
  EXPECT_EQ(specs[names.customers].configs.at("cleanup.policy"), "compact");
  EXPECT_EQ(specs[names.transactions].configs.at("retention.ms"), "-1");
  EXPECT_EQ(specs[names.examples].configs.at("retention.ms"), "-1");
  EXPECT_TRUE(specs[names.dlq].configs.empty());
}

ReplayOptions ValidOptions() {
  ReplayOptions options;
  options.data_dir = "data";
  options.kafka.Set("bootstrap.servers", "127.0.0.1:9092");
  return options;
}

TEST(ReplayOptionsTest, AcceptsDefaults) {
  const Status status = ValidOptions().Validate();
  EXPECT_TRUE(status.ok()) << status.ToString();
}

TEST(ReplayOptionsTest, RejectsInconsistentSettings) {
  struct Case {
    std::string name;
    void (*change)(ReplayOptions&);
  };
  const Case cases[] = {
      {"no data dir", [](ReplayOptions& o) { o.data_dir.clear(); }},
      {"no bootstrap", [](ReplayOptions& o) { o.kafka = kafka::KafkaConfig(); }},
      {"idempotence off", [](ReplayOptions& o) { o.kafka.Set("enable.idempotence", "false"); }},
      {"zero partitions", [](ReplayOptions& o) { o.partitions = 0; }},
      {"rate and speedup",
       [](ReplayOptions& o) {
         o.rate = 10;
         o.speedup = 10;
       }},
      {"negative rate", [](ReplayOptions& o) { o.rate = -1; }},
      {"from after until",
       [](ReplayOptions& o) {
         o.from = Date::FromCivil(2020, 1, 2);
         o.until = Date::FromCivil(2020, 1, 2);
       }},
      {"nothing to send",
       [](ReplayOptions& o) {
         o.send_entities = false;
         o.send_transactions = false;
       }},
  };
  for (const Case& c : cases) {
    ReplayOptions options = ValidOptions();
    c.change(options);
    EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument) << c.name;
  }
}

TEST(DefaultProducerConfigTest, AddsThroughputAndSafetyDefaults) {
  const kafka::KafkaConfig config = DefaultProducerConfig(ValidOptions().kafka);
  EXPECT_EQ(config.Get("enable.idempotence"), "true");
  EXPECT_EQ(config.Get("compression.type"), "lz4");
  EXPECT_EQ(config.Get("message.timeout.ms"), "0");
  EXPECT_TRUE(config.Has("queue.buffering.max.kbytes"));
  EXPECT_TRUE(config.ToRdKafkaConf().ok()) << "librdkafka must accept every default";
}

TEST(DefaultProducerConfigTest, KeepsWhatTheUserSet) {
  kafka::KafkaConfig user = ValidOptions().kafka;
  user.Set("compression.type", "zstd");
  user.Set("linger.ms", "100");
  const kafka::KafkaConfig config = DefaultProducerConfig(user);
  EXPECT_EQ(config.Get("compression.type"), "zstd");
  EXPECT_EQ(config.Get("linger.ms"), "100");
}

}  // namespace
}  // namespace towerstream::replay
