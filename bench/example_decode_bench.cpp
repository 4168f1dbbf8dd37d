// hm.examples decoding throughput: trainer::DecodeExample (canonical fast path) against the
// library path (events::DecodeExampleEvent + trainer::ExampleFromEvent) on the same encoded
// examples in the same run; prints examples/s of both and the ratio (target: 5x or more).
//
// Usage: example_decode_bench [--examples N] [--repeat N]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/events/event_id.h"
#include "common/events/events.h"
#include "common/trainer/example_decoder.h"
#include "tests/events/sample_events.h"

namespace towerstream::trainer {
namespace {

constexpr double kTargetRatio = 5.0;

struct Flags {
  int examples = 100'000;
  int repeat = 5;
};

// What ingest writes: full histories, mostly known customers and articles with varied
// features, a few cold ones, so no figure rests on one string decoded over and over.
std::vector<std::string> MakePayloads(int n) {
  std::mt19937_64 rng(7);
  const events::ExampleEvent base = events::testing::SampleExampleEvent();
  static const char* const kStatuses[] = {"ACTIVE", "PRE-CREATE", "LEFT CLUB"};
  static const char* const kGroups[] = {
      "Garment Upper body", "Garment Lower body", "Accessories", "Underwear", "Shoes", "Swimwear"};
  std::vector<std::string> payloads;
  payloads.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    events::ExampleEvent e = base;
    e.event_id = events::MakeTransactionEventId("transactions_train.csv", i + 2);
    for (char& c : e.transaction.customer_id) c = "0123456789abcdef"[rng() % 16];
    e.transaction.t_dat = Date::FromCivil(2018, 9, 20) + static_cast<int32_t>(rng() % 734);
    e.transaction.article_id = static_cast<hm::ArticleId>(100000000 + rng() % 860000000);
    e.transaction.price = static_cast<double>(rng() % 500000 + 1) / 1180000.0;
    e.transaction.sales_channel_id = 1 + static_cast<int32_t>(rng() % 2);
    if (rng() % 50 == 0) {
      e.customer = events::CustomerFeatures{};
    } else {
      e.customer.fn = rng() % 2 ? std::optional<float>(1.0f) : std::nullopt;
      e.customer.active = e.customer.fn;
      e.customer.club_member_status = kStatuses[rng() % 3];
      e.customer.age = 16 + static_cast<int32_t>(rng() % 80);
      for (char& c : e.customer.postal_code) c = "0123456789abcdef"[rng() % 16];
    }
    for (hm::ArticleId& id : e.recent_article_ids) {
      id = static_cast<hm::ArticleId>(100000000 + rng() % 860000000);
    }
    if (rng() % 100 == 0) {
      e.article = events::ArticleFeatures{};
    } else {
      e.article.product_code = e.transaction.article_id / 1000;
      e.article.product_type_no = static_cast<int32_t>(rng() % 300);
      e.article.product_group_name = kGroups[rng() % std::size(kGroups)];
      e.article.colour_group_code = static_cast<int32_t>(rng() % 100);
      e.article.department_no = 1000 + static_cast<int32_t>(rng() % 9000);
      e.article.index_code = std::string(1, static_cast<char>('A' + rng() % 10));
      e.article.section_no = static_cast<int32_t>(rng() % 100);
    }
    payloads.push_back(events::EncodeExampleEvent(e));
  }
  return payloads;
}

// The fastest of `repeat` runs of `pass`, in seconds.
double BestSeconds(int repeat, const std::function<void()>& pass) {
  double best = 1e30;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    pass();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::min(best, took.count());
  }
  return best;
}

int Run(const Flags& flags) {
  const std::vector<std::string> payloads = MakePayloads(flags.examples);
  const events::DecodeOptions options;

  // Both paths must agree, and the fast one must be what runs, or the figures mean nothing.
  size_t bytes = 0;
  int fast_hits = 0;
  for (const std::string& payload : payloads) {
    bytes += payload.size();
    model::Example example;
    std::string event_id;
    fast_hits += DecodeCanonicalExample(payload, options, &example, &event_id) ? 1 : 0;
    Result<events::ExampleEvent> event = events::DecodeExampleEvent(payload, options);
    if (!event.ok() || !DecodeExample(payload, options, &example, &event_id).ok() ||
        example != ExampleFromEvent(*event) || event_id != event->event_id) {
      std::fprintf(stderr, "example_decode_bench: the paths disagree on %s\n", payload.c_str());
      return 1;
    }
  }

  // A sum over the results keeps the compiler from dropping the work.
  uint64_t checksum_library = 0;  // unsigned: the sums wrap
  uint64_t checksum_fast = 0;
  const double library_seconds = BestSeconds(flags.repeat, [&] {
    for (const std::string& payload : payloads) {
      Result<events::ExampleEvent> event = events::DecodeExampleEvent(payload, options);
      if (!event.ok()) std::abort();
      const model::Example example = ExampleFromEvent(*event);
      checksum_library +=
          static_cast<uint64_t>(example.customer_key) + static_cast<uint64_t>(example.article_id);
    }
  });
  // The trainer's use: one Example and one id string reused for every message.
  const double fast_seconds = BestSeconds(flags.repeat, [&] {
    model::Example example;
    std::string event_id;
    for (const std::string& payload : payloads) {
      if (!DecodeExample(payload, options, &example, &event_id).ok()) std::abort();
      checksum_fast +=
          static_cast<uint64_t>(example.customer_key) + static_cast<uint64_t>(example.article_id);
    }
  });

  const double n = static_cast<double>(payloads.size());
  const double library_rate = n / library_seconds;
  const double fast_rate = n / fast_seconds;
  const double ratio = fast_rate / library_rate;
  std::printf("example_decode_bench examples=%d repeat=%d avg=%.0f B fast_path=%d/%d\n",
              flags.examples, flags.repeat, static_cast<double>(bytes) / n, fast_hits,
              flags.examples);
  std::printf("  DecodeExampleEvent + ExampleFromEvent: %11.0f examples/s %7.3f us/example\n",
              library_rate, 1e6 / library_rate);
  std::printf("  DecodeExample:                         %11.0f examples/s %7.3f us/example\n",
              fast_rate, 1e6 / fast_rate);
  std::printf("  ratio: %.2fx%s\n", ratio, ratio >= kTargetRatio ? "" : "  (below the 5x target)");
  // Printed so that the results are used; both paths ran the same passes over the same data.
  std::printf("  checksums %s\n", checksum_library == checksum_fast ? "agree" : "differ");
  return 0;
}

}  // namespace
}  // namespace towerstream::trainer

int main(int argc, char** argv) {
  towerstream::trainer::Flags flags;
  const char* const usage = "usage: example_decode_bench [--examples N] [--repeat N]\n";
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 == argc) {
      std::fputs(usage, stderr);
      return 2;
    }
    if (std::strcmp(argv[i], "--examples") == 0) {
      flags.examples = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--repeat") == 0) {
      flags.repeat = std::atoi(argv[i + 1]);
    } else {
      std::fputs(usage, stderr);
      return 2;
    }
  }
  if (flags.examples <= 0 || flags.repeat <= 0) {
    std::fputs(usage, stderr);
    return 2;
  }
  return towerstream::trainer::Run(flags);
}
