// Event codec throughput: encode and decode of transactions and examples, in events/s, against
// ingest's budget of 150k events/s (each transaction is decoded and its example encoded).
//
// Usage: events_bench [--events N] [--repeat N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/events/event_id.h"
#include "common/events/events.h"
#include "tests/events/sample_events.h"

namespace towerstream::events {
namespace {

constexpr double kTargetEventsPerSecond = 150'000;

struct Flags {
  int events = 200'000;
  int repeat = 3;
};

// Varied ids and prices, so the figures do not rest on one string being encoded over and over.
std::vector<ExampleEvent> MakeExamples(int n) {
  std::mt19937_64 rng(5);
  std::vector<ExampleEvent> examples;
  examples.reserve(static_cast<size_t>(n));
  const ExampleEvent base = testing::SampleExampleEvent();
  for (int i = 0; i < n; ++i) {
    ExampleEvent e = base;
    e.event_id = MakeTransactionEventId("transactions_train.csv", i + 2);
    for (char& c : e.transaction.customer_id) c = "0123456789abcdef"[rng() % 16];
    e.transaction.article_id = static_cast<hm::ArticleId>(100000000 + rng() % 860000000);
    e.transaction.price = static_cast<double>(rng() % 500000 + 1) / 1180000.0;
    for (hm::ArticleId& id : e.recent_article_ids) {
      id = static_cast<hm::ArticleId>(100000000 + rng() % 860000000);
    }
    examples.push_back(std::move(e));
  }
  return examples;
}

// Runs `pass` `repeat` times over `n` events and prints the fastest rate.
void Report(const char* what, int n, int repeat, const std::function<size_t()>& pass) {
  double best = 1e30;
  size_t bytes = 0;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    bytes = pass();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::min(best, took.count());
  }
  const double rate = n / best;
  std::printf("%-22s %9d events %8.3f s %11.0f events/s %7.2f us/event %6.0f B/event%s\n", what, n,
              best, rate, 1e6 / rate, static_cast<double>(bytes) / n,
              rate >= kTargetEventsPerSecond ? "" : "  (below the 150k events/s target)");
}

template <typename Event>
void BenchEncode(const char* what, const std::vector<Event>& events,
                 std::string (*encode)(const Event&), int repeat,
                 std::vector<std::string>* encoded) {
  encoded->resize(events.size());
  Report(what, static_cast<int>(events.size()), repeat, [&] {
    size_t bytes = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      (*encoded)[i] = encode(events[i]);
      bytes += (*encoded)[i].size();
    }
    return bytes;
  });
}

template <typename Event>
void BenchDecode(const char* what, const std::vector<std::string>& payloads,
                 Result<Event> (*decode)(std::string_view, const DecodeOptions&), int repeat) {
  const DecodeOptions options;
  Report(what, static_cast<int>(payloads.size()), repeat, [&] {
    size_t bytes = 0;
    for (const std::string& payload : payloads) {
      Result<Event> event = decode(payload, options);
      if (!event.ok()) {
        std::fprintf(stderr, "%s failed: %s\n", what, event.status().ToString().c_str());
        std::exit(1);
      }
      bytes += payload.size();
    }
    return bytes;
  });
}

int Run(const Flags& flags) {
  const std::vector<ExampleEvent> examples = MakeExamples(flags.events);
  std::vector<TransactionEvent> transactions;
  transactions.reserve(examples.size());
  for (const ExampleEvent& e : examples) {
    transactions.push_back(TransactionEvent{.event_id = e.event_id, .transaction = e.transaction});
  }
  std::vector<std::string> encoded_transactions;
  std::vector<std::string> encoded_examples;

  BenchEncode("encode transaction", transactions, EncodeTransactionEvent, flags.repeat,
              &encoded_transactions);
  BenchDecode("decode transaction", encoded_transactions, DecodeTransactionEvent, flags.repeat);
  BenchEncode("encode example", examples, EncodeExampleEvent, flags.repeat, &encoded_examples);
  BenchDecode("decode example", encoded_examples, DecodeExampleEvent, flags.repeat);
  return 0;
}

}  // namespace
}  // namespace towerstream::events

int main(int argc, char** argv) {
  towerstream::events::Flags flags;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 == argc) {
      std::fprintf(stderr, "usage: events_bench [--events N] [--repeat N]\n");
      return 2;
    }
    if (std::strcmp(argv[i], "--events") == 0) {
      flags.events = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--repeat") == 0) {
      flags.repeat = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: events_bench [--events N] [--repeat N]\n");
      return 2;
    }
  }
  if (flags.events <= 0 || flags.repeat <= 0) {
    std::fprintf(stderr, "usage: events_bench [--events N] [--repeat N]\n");
    return 2;
  }
  return towerstream::events::Run(flags);
}
