// Helpers of the trainer's Kafka tests.
#include "tests/trainer/trainer_test_support.h"

#include <xxhash.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "common/admin/admin_server.h"
#include "tests/ingest/ingest_test_support.h"

namespace towerstream::trainer::testing {

std::vector<events::ExampleEvent> MakeExamples(int customers, int articles, int n, int first_id,
                                               uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<hm::ArticleId>> history(static_cast<size_t>(customers));
  std::vector<events::ExampleEvent> out;
  for (int i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % static_cast<uint64_t>(customers));
    const int article =
        (static_cast<int>(rng() % static_cast<uint64_t>(articles / 4)) * 4 + c % 4) % articles;
    events::ExampleEvent e;
    e.event_id = "example-" + std::to_string(first_id + i);
    e.transaction.t_dat = Date::FromCivil(2020, 1, 1) + i / 500;
    e.transaction.customer_id = ingest::test_support::CustomerId(c);
    e.transaction.article_id = 600'000'000 + article;
    e.transaction.price = 0.025;
    e.transaction.sales_channel_id = 1 + c % 2;
    e.customer.known = true;
    e.customer.age = 20 + c % 40;
    e.customer.club_member_status = "ACTIVE";
    e.customer.postal_code = "p" + std::to_string(c % 13);
    e.article =
        events::ArticleFeaturesOf(ingest::test_support::MakeArticle(600'000'000 + article).article);
    std::vector<hm::ArticleId>& h = history[static_cast<size_t>(c)];
    e.recent_article_ids = h;
    h.push_back(e.transaction.article_id);
    if (h.size() > 20) h.erase(h.begin());
    out.push_back(std::move(e));
  }
  return out;
}

Status ProduceExamples(kafka::Producer& producer, const std::string& prefix,
                       std::span<const events::ExampleEvent> examples, int partitions) {
  const std::string topic = prefix + std::string(events::kExamplesTopic);
  for (const events::ExampleEvent& e : examples) {
    kafka::Message m;
    m.topic = topic;
    // CustomerId(c) is a hash: the partition comes from the hex digits, stable per customer.
    m.partition =
        static_cast<int32_t>(std::stoull(e.transaction.customer_id.substr(0, 8), nullptr, 16) %
                             static_cast<uint64_t>(partitions));
    m.key = events::EventKey(e);
    m.value = events::EncodeExampleEvent(e);
    TS_RETURN_IF_ERROR(producer.Produce(m));
  }
  return producer.Flush(std::chrono::seconds(60));
}

Status ProducePayloads(kafka::Producer& producer, const std::string& prefix,
                       const std::vector<std::string>& payloads) {
  for (const std::string& payload : payloads) {
    kafka::Message m;
    m.topic = prefix + std::string(events::kExamplesTopic);
    m.partition = 0;
    m.key = "bad";
    m.value = payload;
    TS_RETURN_IF_ERROR(producer.Produce(m));
  }
  return producer.Flush(std::chrono::seconds(60));
}

std::string ExpectedDigest(std::span<const events::ExampleEvent> examples) {
  uint64_t digest = 0;
  for (const events::ExampleEvent& e : examples) {
    digest += XXH3_64bits(e.event_id.data(), e.event_id.size());
  }
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(digest));
  return text;
}

Result<snapshot::Manifest> LatestManifest(const std::filesystem::path& snapshot_dir) {
  TS_ASSIGN_OR_RETURN(const std::filesystem::path dir, snapshot::ResolveSnapshot(snapshot_dir));
  return snapshot::ReadManifest(dir);
}

Result<nlohmann::json> AdminCall(const std::string& address, const std::string& method,
                                 const std::string& path, const std::string& token) {
  TS_ASSIGN_OR_RETURN(const admin::AdminResponse response,
                      admin::HttpCall(address, method, path, {}, token));
  nlohmann::json body = nlohmann::json::parse(response.body, nullptr, false);
  if (response.status != 200) {
    return Status::Unavailable("HTTP " + std::to_string(response.status) + ": " + response.body);
  }
  if (body.is_discarded()) return Status::Corruption("not JSON: " + response.body);
  return body;
}

std::string AdminAddressIn(const std::string& log, std::chrono::milliseconds timeout) {
  const std::regex pattern("admin API on http://([0-9.]+:[0-9]+)");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(log);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::smatch last;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), pattern);
         it != std::sregex_iterator(); ++it) {
      last = *it;
    }
    if (!last.empty()) return last[1];
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return "";
}

std::vector<std::string> SmallModelFlags() {
  return {"--dim",          "16", "--hidden",  "32", "--field-dim", "4",
          "--eval-queries", "16", "--threads", "1",  "--no-fsync"};
}

}  // namespace towerstream::trainer::testing
