// Helpers of the ingest integration tests.
#include "tests/ingest/ingest_test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <thread>

#include "common/events/event_id.h"
#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"

extern char** environ;

namespace towerstream::ingest::test_support {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr milliseconds kAdminTimeout{30'000};

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// `isolation` also decides what committed() asks for: under read_committed librdkafka wants
// stable offsets, and the broker makes it wait while a transaction holds offsets of the group
// (until that ingest commits or, killed, is fenced by its restart).
Result<std::unique_ptr<kafka::Consumer>> MakeConsumer(const std::string& bootstrap,
                                                      const std::string& group,
                                                      const std::string& isolation) {
  kafka::ConsumerOptions options;
  options.config.Set("bootstrap.servers", bootstrap);
  options.config.Set("enable.auto.commit", "false");
  options.config.Set("isolation.level", isolation);
  options.group_id = group;
  return kafka::Consumer::Create(options);
}

Result<int> PartitionsOf(const std::string& bootstrap, const std::string& topic) {
  TS_ASSIGN_OR_RETURN(std::unique_ptr<kafka::Producer> producer, MakeProducer(bootstrap));
  return kafka::PartitionCount(*producer, topic, kAdminTimeout);
}

}  // namespace

std::string CustomerId(int n) {
  char id[65];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(id + 16 * i, 17, "%016llx",
                  static_cast<unsigned long long>(SplitMix(static_cast<uint64_t>(n) * 4 + i)));
  }
  return std::string(id, 64);
}

events::ArticleEvent MakeArticle(hm::ArticleId id) {
  events::ArticleEvent e;
  hm::Article& a = e.article;
  a.article_id = id;
  a.product_code = id / 1000;
  a.prod_name = "Test article " + std::to_string(id);
  a.product_type_no = static_cast<int32_t>(id % 300);
  a.product_type_name = "Trousers";
  a.product_group_name = "Garment Lower body";
  a.graphical_appearance_no = 1010016;
  a.graphical_appearance_name = "Solid";
  a.colour_group_code = static_cast<int32_t>(id % 90);
  a.colour_group_name = "Black";
  a.perceived_colour_value_id = 4;
  a.perceived_colour_value_name = "Dark";
  a.perceived_colour_master_id = 5;
  a.perceived_colour_master_name = "Black";
  a.department_no = 1676;
  a.department_name = "Trousers";
  a.index_code = "A";
  a.index_name = "Ladieswear";
  a.index_group_no = 1;
  a.index_group_name = "Ladieswear";
  a.section_no = 16;
  a.section_name = "Womens Everyday Basics";
  a.garment_group_no = 1009;
  a.garment_group_name = "Trousers";
  a.detail_desc = "For the tests.";
  return e;
}

Dataset MakeDataset(int customers, int articles, int64_t transactions, int partitions,
                    uint64_t seed) {
  Dataset d;
  d.partitions = partitions;
  for (int i = 0; i < articles; ++i) d.articles.push_back(MakeArticle(500'000'001 + i));
  for (int i = 0; i < customers; ++i) {
    events::CustomerEvent e;
    e.customer.customer_id = CustomerId(i);
    if (i % 3 != 0) e.customer.fn = 1.0f;
    e.customer.active = i % 2 ? std::optional<float>(1.0f) : std::nullopt;
    e.customer.club_member_status = "ACTIVE";
    e.customer.fashion_news_frequency = hm::FashionNews::kRegularly;
    if (i % 7 != 0) e.customer.age = 18 + i % 60;
    e.customer.postal_code = CustomerId(i + 1'000'000);
    d.customers.push_back(e);
  }
  std::mt19937_64 rng(seed);
  const Date start = Date::FromCivil(2019, 1, 1);
  for (int64_t i = 0; i < transactions; ++i) {
    const int customer = static_cast<int>(rng() % static_cast<uint64_t>(customers));
    Dataset::Transaction t;
    t.partition = customer % partitions;
    t.event.event_id = events::MakeTransactionEventId("ingest_test.csv", i + 2);
    t.event.transaction.t_dat = start + static_cast<int32_t>(i * 300 / transactions);
    t.event.transaction.customer_id = d.customers[customer].customer.customer_id;
    t.event.transaction.article_id = d.articles[rng() % d.articles.size()].article.article_id;
    t.event.transaction.price = 0.01 + static_cast<double>(rng() % 1000) / 10'000;
    t.event.transaction.sales_channel_id = 1 + static_cast<int32_t>(rng() % 2);
    d.transactions.push_back(std::move(t));
  }
  return d;
}

std::map<std::string, std::vector<hm::ArticleId>> ExpectedHistories(
    std::span<const Dataset::Transaction> transactions, int n) {
  std::map<std::string, std::deque<hm::ArticleId>> recent;
  std::map<std::string, std::vector<hm::ArticleId>> expected;
  for (const Dataset::Transaction& t : transactions) {
    std::deque<hm::ArticleId>& r = recent[t.event.transaction.customer_id];
    expected[t.event.event_id].assign(r.begin(), r.end());
    r.push_back(t.event.transaction.article_id);
    if (static_cast<int>(r.size()) > n) r.pop_front();
  }
  return expected;
}

std::map<std::string, events::ExampleEvent> ExpectedExamples(
    const Dataset& dataset, std::span<const Dataset::Transaction> valid, int n) {
  std::map<std::string, const hm::Customer*> customers;
  for (const events::CustomerEvent& c : dataset.customers) {
    customers[c.customer.customer_id] = &c.customer;
  }
  std::map<hm::ArticleId, const hm::Article*> articles;
  for (const events::ArticleEvent& a : dataset.articles) {
    articles[a.article.article_id] = &a.article;
  }
  std::map<std::string, std::vector<hm::ArticleId>> histories = ExpectedHistories(valid, n);
  std::map<std::string, events::ExampleEvent> expected;
  for (const Dataset::Transaction& t : valid) {
    events::ExampleEvent& e = expected[t.event.event_id];
    e.event_id = t.event.event_id;
    e.transaction = t.event.transaction;
    e.customer = events::CustomerFeaturesOf(*customers.at(t.event.transaction.customer_id));
    e.recent_article_ids = std::move(histories.at(t.event.event_id));
    e.article = events::ArticleFeaturesOf(*articles.at(t.event.transaction.article_id));
  }
  return expected;
}

Result<std::unique_ptr<kafka::Producer>> MakeProducer(const std::string& bootstrap) {
  kafka::ProducerOptions options;
  options.config.Set("bootstrap.servers", bootstrap);
  options.config.Set("linger.ms", "5");
  options.config.Set("queue.buffering.max.messages", "1000000");
  options.config.Set("message.max.bytes", "1048588");
  return kafka::Producer::Create(options);
}

Status CreateTopics(kafka::Producer& producer, const std::string& prefix, int partitions) {
  const std::map<std::string, std::string> compacted = {{"cleanup.policy", "compact"}};
  std::vector<kafka::TopicSpec> specs;
  for (std::string_view topic : {events::kArticlesTopic, events::kCustomersTopic}) {
    specs.push_back({prefix + std::string(topic), partitions, 1, compacted});
  }
  for (std::string_view topic :
       {events::kTransactionsTopic, events::kExamplesTopic, events::kDlqTopic}) {
    specs.push_back({prefix + std::string(topic), partitions, 1, {}});
  }
  return kafka::CreateTopics(producer, specs, kAdminTimeout);
}

Status ProduceEntities(kafka::Producer& producer, const std::string& prefix,
                       const Dataset& dataset) {
  const std::string articles = prefix + std::string(events::kArticlesTopic);
  const std::string customers = prefix + std::string(events::kCustomersTopic);
  for (const events::ArticleEvent& e : dataset.articles) {
    TS_RETURN_IF_ERROR(producer.Produce({.topic = articles,
                                         .key = events::EventKey(e),
                                         .value = events::EncodeArticleEvent(e),
                                         .headers = {}}));
  }
  for (const events::CustomerEvent& e : dataset.customers) {
    TS_RETURN_IF_ERROR(producer.Produce({.topic = customers,
                                         .key = events::EventKey(e),
                                         .value = events::EncodeCustomerEvent(e),
                                         .headers = {}}));
  }
  return producer.Flush(milliseconds(60'000));
}

Status ProduceTransactions(kafka::Producer& producer, const std::string& prefix,
                           std::span<const Dataset::Transaction> transactions) {
  const std::string topic = prefix + std::string(events::kTransactionsTopic);
  for (const Dataset::Transaction& t : transactions) {
    TS_RETURN_IF_ERROR(producer.Produce({.topic = topic,
                                         .partition = t.partition,
                                         .key = events::EventKey(t.event),
                                         .value = events::EncodeTransactionEvent(t.event),
                                         .headers = {}}));
  }
  return producer.Flush(milliseconds(60'000));
}

Result<std::vector<kafka::Message>> ReadCommitted(const std::string& bootstrap,
                                                  const std::string& topic, size_t min_count,
                                                  milliseconds timeout) {
  TS_ASSIGN_OR_RETURN(int partitions, PartitionsOf(bootstrap, topic));
  TS_ASSIGN_OR_RETURN(std::unique_ptr<kafka::Consumer> consumer,
                      MakeConsumer(bootstrap, UniquePrefix("reader"), "read_committed"));
  std::vector<RdKafka::TopicPartition*> assignment;
  for (int p = 0; p < partitions; ++p) {
    assignment.push_back(
        RdKafka::TopicPartition::create(topic, p, RdKafka::Topic::OFFSET_BEGINNING));
  }
  const RdKafka::ErrorCode assigned = consumer->handle().assign(assignment);
  RdKafka::TopicPartition::destroy(assignment);
  if (assigned != RdKafka::ERR_NO_ERROR) {
    return Status::Unavailable("assign " + topic + ": " + RdKafka::err2str(assigned));
  }
  std::vector<kafka::Message> messages;
  const Clock::time_point deadline = Clock::now() + timeout;
  Clock::time_point last_message = Clock::now();
  // Once enough arrived, keep reading until the topic has been quiet for a while, so that a
  // duplicate would be seen too.
  while (Clock::now() < deadline) {
    TS_ASSIGN_OR_RETURN(std::optional<kafka::Message> m, consumer->Poll(milliseconds(200)));
    if (m) {
      messages.push_back(std::move(*m));
      last_message = Clock::now();
    } else if (messages.size() >= min_count && Clock::now() - last_message > milliseconds(1500)) {
      break;
    }
  }
  return messages;
}

Result<std::vector<int64_t>> CommittedOffsetsByPartition(const std::string& bootstrap,
                                                         const std::string& group,
                                                         const std::string& topic) {
  TS_ASSIGN_OR_RETURN(int partitions, PartitionsOf(bootstrap, topic));
  TS_ASSIGN_OR_RETURN(std::unique_ptr<kafka::Consumer> consumer,
                      MakeConsumer(bootstrap, group, "read_uncommitted"));
  std::vector<RdKafka::TopicPartition*> list;
  for (int p = 0; p < partitions; ++p) list.push_back(RdKafka::TopicPartition::create(topic, p));
  const RdKafka::ErrorCode err = consumer->handle().committed(list, 10'000);
  std::vector<int64_t> offsets;
  for (RdKafka::TopicPartition* tp : list) offsets.push_back(std::max<int64_t>(0, tp->offset()));
  RdKafka::TopicPartition::destroy(list);
  if (err != RdKafka::ERR_NO_ERROR) {
    return Status::Unavailable("committed offsets of " + group + ": " + RdKafka::err2str(err));
  }
  return offsets;
}

Result<int64_t> CommittedOffsets(const std::string& bootstrap, const std::string& group,
                                 const std::string& topic) {
  TS_ASSIGN_OR_RETURN(std::vector<int64_t> offsets,
                      CommittedOffsetsByPartition(bootstrap, group, topic));
  return std::accumulate(offsets.begin(), offsets.end(), int64_t{0});
}

int64_t CommittedTransactions(const std::string& bootstrap, const std::string& prefix,
                              const std::string& group) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    Result<int64_t> committed = CommittedOffsets(bootstrap, prefix + group,
                                                 prefix + std::string(events::kTransactionsTopic));
    if (committed.ok()) return *committed;
    std::this_thread::sleep_for(milliseconds(500));
  }
  return -1;
}

Result<std::map<std::string, std::vector<int32_t>>> StableAssignment(const std::string& bootstrap,
                                                                     const std::string& group,
                                                                     const std::string& topic) {
  TS_ASSIGN_OR_RETURN(std::unique_ptr<kafka::Producer> producer, MakeProducer(bootstrap));
  rd_kafka_t* client = producer->handle().c_ptr();
  const std::unique_ptr<rd_kafka_queue_t, decltype(&rd_kafka_queue_destroy)> queue(
      rd_kafka_queue_new(client), &rd_kafka_queue_destroy);
  const char* groups[] = {group.c_str()};
  rd_kafka_DescribeConsumerGroups(client, groups, 1, nullptr, queue.get());
  const std::unique_ptr<rd_kafka_event_t, decltype(&rd_kafka_event_destroy)> event(
      rd_kafka_queue_poll(queue.get(), static_cast<int>(kAdminTimeout.count())),
      &rd_kafka_event_destroy);
  const std::string what = "describe consumer group " + group;
  if (!event) return Status::DeadlineExceeded(what);
  if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::Unavailable(what + ": " + rd_kafka_event_error_string(event.get()));
  }
  size_t count = 0;
  const rd_kafka_ConsumerGroupDescription_t** described =
      rd_kafka_DescribeConsumerGroups_result_groups(
          rd_kafka_event_DescribeConsumerGroups_result(event.get()), &count);
  if (count != 1) return Status::Internal(what + ": " + std::to_string(count) + " groups");
  const rd_kafka_ConsumerGroupDescription_t* g = described[0];
  if (const rd_kafka_error_t* error = rd_kafka_ConsumerGroupDescription_error(g)) {
    return Status::Unavailable(what + ": " + rd_kafka_error_string(error));
  }
  const rd_kafka_consumer_group_state_t state = rd_kafka_ConsumerGroupDescription_state(g);
  if (state != RD_KAFKA_CONSUMER_GROUP_STATE_STABLE) {
    return Status::Unavailable(what + ": " + rd_kafka_consumer_group_state_name(state));
  }
  std::map<std::string, std::vector<int32_t>> assignment;
  for (size_t i = 0; i < rd_kafka_ConsumerGroupDescription_member_count(g); ++i) {
    const rd_kafka_MemberDescription_t* member = rd_kafka_ConsumerGroupDescription_member(g, i);
    const char* instance = rd_kafka_MemberDescription_group_instance_id(member);
    std::vector<int32_t>& partitions =
        assignment[instance ? instance : rd_kafka_MemberDescription_consumer_id(member)];
    const rd_kafka_topic_partition_list_t* list =
        rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(member));
    for (int j = 0; list != nullptr && j < list->cnt; ++j) {
      if (topic == list->elems[j].topic) partitions.push_back(list->elems[j].partition);
    }
    std::sort(partitions.begin(), partitions.end());
  }
  return assignment;
}

std::string UniquePrefix(const std::string& what) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return "it." + what + "." + (info ? std::string(info->name()) : "x") + "." +
         std::to_string(std::random_device{}()) + ".";
}

std::map<std::string, events::ExampleEvent> DecodeExamples(const std::vector<kafka::Message>& m,
                                                           std::vector<std::string>* duplicates) {
  std::map<std::string, events::ExampleEvent> examples;
  for (const kafka::Message& message : m) {
    Result<events::ExampleEvent> example = events::DecodeExampleEvent(message.value);
    if (!example.ok()) {
      ADD_FAILURE() << "undecodable example at " << message.partition << ":" << message.offset
                    << ": " << example.status().ToString();
      continue;
    }
    const std::string id = example->event_id;
    if (!examples.emplace(id, std::move(example).value()).second) duplicates->push_back(id);
  }
  return examples;
}

void ExpectExactlyOnce(const std::string& bootstrap, const std::string& prefix,
                       const Dataset& dataset, const std::set<std::string>& invalid) {
  std::vector<Dataset::Transaction> valid;
  for (const Dataset::Transaction& t : dataset.transactions) {
    if (!invalid.contains(t.event.event_id)) valid.push_back(t);
  }
  Result<std::vector<kafka::Message>> examples = ReadCommitted(
      bootstrap, prefix + std::string(events::kExamplesTopic), valid.size(), milliseconds(120'000));
  ASSERT_TRUE(examples.ok()) << examples.status().ToString();
  Result<std::vector<kafka::Message>> dead = ReadCommitted(
      bootstrap, prefix + std::string(events::kDlqTopic), invalid.size(), milliseconds(60'000));
  ASSERT_TRUE(dead.ok()) << dead.status().ToString();

  std::vector<std::string> duplicates;
  const std::map<std::string, events::ExampleEvent> got = DecodeExamples(*examples, &duplicates);
  EXPECT_TRUE(duplicates.empty()) << duplicates.size() << " duplicated examples, e.g. "
                                  << duplicates.front();
  EXPECT_EQ(examples->size(), valid.size());
  std::set<std::string> dead_ids;
  for (const kafka::Message& m : *dead) {
    EXPECT_TRUE(dead_ids.insert(EventIdIn(m.value)).second)
        << "dead-lettered twice: " << EventIdIn(m.value);
  }
  EXPECT_EQ(dead_ids, invalid);

  int64_t missing = 0, wrong = 0;
  for (const auto& [id, example] :
       ExpectedExamples(dataset, valid, events::kDefaultRecentArticles)) {
    const auto it = got.find(id);
    if (it == got.end()) {
      if (++missing <= 3) ADD_FAILURE() << "no example of " << id;
    } else if (it->second != example && ++wrong <= 3) {
      ADD_FAILURE() << "example of " << id << " differs:\n  got      "
                    << events::EncodeExampleEvent(it->second) << "\n  expected "
                    << events::EncodeExampleEvent(example);
    }
  }
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(wrong, 0);
}

// --- ChildProcess

Result<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                         const std::string& log) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return Status::IoError("spawn " + argv[0] + ": " + std::strerror(err));
  return ChildProcess(pid);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), status_(other.status_) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    if (Running()) {
      Signal(SIGKILL);
      Wait();
    }
    pid_ = std::exchange(other.pid_, -1);
    status_ = other.status_;
  }
  return *this;
}

ChildProcess::~ChildProcess() {
  if (Running()) {
    Signal(SIGKILL);
    Wait();
  }
}

void ChildProcess::Signal(int signo) const {
  if (pid_ > 0) ::kill(pid_, signo);
}

int ChildProcess::Wait() {
  if (status_ || pid_ <= 0) return status_.value_or(-1);
  int raw = 0;
  while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
  }
  status_ = WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : WEXITSTATUS(raw);
  return *status_;
}

bool ChildProcess::Running() {
  if (status_ || pid_ <= 0) return false;
  int raw = 0;
  const pid_t done = ::waitpid(pid_, &raw, WNOHANG);
  if (done == 0) return true;
  status_ = done < 0 ? -1 : (WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : WEXITSTATUS(raw));
  return false;
}

Status AwaitCommitted(std::span<ChildProcess* const> ingests, const std::string& bootstrap,
                      const std::string& prefix, const std::string& group, int64_t total,
                      std::chrono::seconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    for (ChildProcess* ingest : ingests) {
      if (!ingest->Running()) {
        return Status::Internal("ingest (pid " + std::to_string(ingest->pid()) + ") exited with " +
                                std::to_string(ingest->Wait()));
      }
    }
    if (CommittedTransactions(bootstrap, prefix, group) >= total) return Status::Ok();
    std::this_thread::sleep_for(milliseconds(250));
  }
  return Status::DeadlineExceeded("only " +
                                  std::to_string(CommittedTransactions(bootstrap, prefix, group)) +
                                  " of " + std::to_string(total) + " committed");
}

Status AwaitCommitted(ChildProcess& ingest, const std::string& bootstrap, const std::string& prefix,
                      int64_t total, std::chrono::seconds timeout) {
  ChildProcess* const ingests[] = {&ingest};
  return AwaitCommitted(ingests, bootstrap, prefix, kDefaultGroup, total, timeout);
}

std::vector<std::string> IngestCommand(const std::string& bootstrap, const std::string& prefix,
                                       const std::string& state,
                                       const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {
      TOWERSTREAM_BIN,     "ingest",     "--kafka", "bootstrap.servers=" + bootstrap,
      "--topic-prefix",    prefix,       "--state", state,
      "--metrics-address", "127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::string Tail(const std::string& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  return text.size() <= bytes ? text : text.substr(text.size() - bytes);
}

std::string EventIdIn(const std::string& payload) {
  const std::string marker = "\"event_id\":\"";
  const size_t at = payload.find(marker);
  if (at == std::string::npos) return "";
  const size_t start = at + marker.size();
  return payload.substr(start, payload.find('"', start) - start);
}

Result<std::string> Shell(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return Status::IoError("popen " + command);
  std::string out;
  char buffer[4096];
  while (size_t n = std::fread(buffer, 1, sizeof(buffer), pipe)) out.append(buffer, n);
  const int status = ::pclose(pipe);
  if (status != 0) return Status::Internal(command + " failed:\n" + out);
  return out;
}

// --- OwnBroker

namespace {

std::string KafkaScript() { return std::string(TOWERSTREAM_SOURCE_DIR) + "/scripts/kafka"; }

}  // namespace

Result<std::unique_ptr<OwnBroker>> OwnBroker::Start(const std::string& state_dir) {
  TS_ASSIGN_OR_RETURN(std::string out,
                      Shell(KafkaScript() + " start --port auto --state-dir " + state_dir));
  // The address is the last line of its output.
  out = out.substr(0, out.find_last_not_of('\n') + 1);
  return std::unique_ptr<OwnBroker>(
      new OwnBroker(state_dir, out.substr(out.find_last_of('\n') + 1)));
}

OwnBroker::~OwnBroker() { Stop().IgnoreError(); }

Status OwnBroker::Stop() {
  return Shell(KafkaScript() + " stop --state-dir " + state_dir_).status();
}

Status OwnBroker::Restart() {
  const std::string port = bootstrap_.substr(bootstrap_.find(':') + 1);
  return Shell(KafkaScript() + " start --keep-data --port " + port + " --state-dir " + state_dir_)
      .status();
}
}  // namespace towerstream::ingest::test_support
