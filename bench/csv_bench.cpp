// CSV loading throughput: the raw csv::Reader and the typed H&M readers on a transactions-like
// file (and an articles-like file full of quoted fields) written to a temporary directory.
//
// Usage: csv_bench [--mb N] [--repeat N] [--dir DIR]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "common/csv/csv_reader.h"
#include "common/csv/csv_writer.h"
#include "common/hm/hm_reader.h"

namespace towerstream {
namespace {

constexpr double kMB = 1e6;
constexpr double kTargetMBPerSecond = 200.0;

struct Flags {
  size_t transactions_mb = 128;
  size_t articles_mb = 32;
  int repeat = 3;
  std::filesystem::path dir = std::filesystem::temp_directory_path();
};

// Kaggle-shaped transactions: 64-hex customers, padded article ids, full-precision prices.
void WriteTransactions(const std::filesystem::path& path, size_t target_bytes) {
  std::mt19937_64 rng(7);
  std::ofstream out(path, std::ios::binary);
  std::string block = std::string(hm::kTransactionsHeader) + "\n";
  std::string customer(hm::kCustomerIdChars, '0');
  const Date first = Date::FromCivil(2018, 9, 20);
  size_t written = 0;
  char date[10];
  char article[hm::kArticleIdDigits];
  for (int64_t row = 0; written + block.size() < target_bytes; ++row) {
    // A customer buys a few items per visit; days advance slowly, as in the real file.
    if (row % 3 == 0) {
      for (char& c : customer) c = "0123456789abcdef"[rng() % 16];
    }
    (first + static_cast<int32_t>(row / 43000)).Format(date);
    block.append(date, sizeof(date));
    block += ',';
    block += customer;
    block += ',';
    hm::FormatArticleId(static_cast<hm::ArticleId>(100000000 + rng() % 860000000), article);
    block.append(article, sizeof(article));
    char price[32];
    const int n = std::snprintf(price, sizeof(price), ",%.17g,%d\n",
                                static_cast<double>(rng() % 500000 + 1) / 1180000.0,
                                static_cast<int>(rng() % 2) + 1);
    block.append(price, static_cast<size_t>(n));
    if (block.size() > (1 << 20)) {
      out << block;
      written += block.size();
      block.clear();
    }
  }
  out << block;
}

// Articles with quoted names holding commas, doubled quotes and line breaks: the slow path.
void WriteArticles(const std::filesystem::path& path, size_t target_bytes) {
  std::mt19937_64 rng(11);
  std::ofstream out(path, std::ios::binary);
  std::string block(hm::kArticlesHeader);
  block += "\r\n";
  const char* const names[] = {"Strap top", "Tank \"Basic\" top", "Under-, Nightwear",
                               "Shorts, 2-pack"};
  const char* const descs[] = {
      "Jersey top with narrow shoulder straps.",
      "Microfibre T-shirt bra with underwired, moulded, lightly padded cups that shape the "
      "bust and provide good support.",
      "Short-sleeved top in \"soft\" jersey.\nSecond line, with a comma.", ""};
  size_t written = 0;
  for (int64_t row = 0; written + block.size() < target_bytes; ++row) {
    const hm::ArticleId id = 108775015 + row;
    block += hm::FormatArticleId(id);
    block += ',' + std::to_string(id / 1000) + ',';
    csv::AppendField(&block, names[rng() % 4]);
    block +=
        ",253,Vest top,Garment Upper body,1010016,Solid,9,Black,4,Dark,5,Black,1676,"
        "Jersey Basic,A,Ladieswear,1,Ladieswear,16,Womens Everyday Basics,1017,";
    csv::AppendField(&block, names[2]);
    block += ',';
    csv::AppendField(&block, descs[rng() % 4]);
    block += "\r\n";
    if (block.size() > (1 << 20)) {
      out << block;
      written += block.size();
      block.clear();
    }
  }
  out << block;
}

// Runs `pass` (which returns the rows it read) `repeat` times, keeps the fastest and returns
// its MB/s. With `baseline_mb_s` > 0 also prints the speed as a share of that baseline, which
// stays comparable across runs on a shared, noisy machine.
double Report(const char* what, const std::filesystem::path& path, int repeat,
              const std::function<int64_t()>& pass, double baseline_mb_s = 0) {
  const double mb = static_cast<double>(std::filesystem::file_size(path)) / kMB;
  double best = 1e30;
  int64_t rows = 0;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    rows = pass();
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    best = std::min(best, took.count());
  }
  const double mb_s = mb / best;
  std::printf("%-34s %8.1f MB %10lld rows %8.3f s %9.1f MB/s %12.0f rows/s", what, mb,
              static_cast<long long>(rows), best, mb_s, static_cast<double>(rows) / best);
  if (baseline_mb_s > 0) std::printf("  %5.2fx of baseline", mb_s / baseline_mb_s);
  std::printf("%s\n", mb_s >= kTargetMBPerSecond ? "" : "  (below the 200 MB/s target)");
  return mb_s;
}

// The floor any CSV parser pays: read the file in 1 MiB blocks and find every newline.
int64_t ReadAndCountLines(const std::filesystem::path& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    std::perror(path.c_str());
    std::exit(1);
  }
  std::vector<char> buffer(1 << 20);
  int64_t lines = 0;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0) {
    const char* p = buffer.data();
    const char* end = p + n;
    while ((p = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p))))) {
      ++lines;
      ++p;
    }
  }
  std::fclose(f);
  return lines;
}

int64_t ParseOnly(const std::filesystem::path& path) {
  auto reader = csv::Reader::Open(path.string());
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
    std::exit(1);
  }
  int64_t rows = 0;
  size_t checksum = 0;  // touches the fields so the parse cannot be skipped
  for (;;) {
    Result<bool> more = (*reader)->Next();
    if (!more.ok()) {
      std::fprintf(stderr, "%s\n", more.status().ToString().c_str());
      if (more.status().code() != StatusCode::kInvalidArgument) std::exit(1);
      continue;
    }
    if (!*more) break;
    ++rows;
    checksum += (*reader)->size() + (*reader)->fields().back().size();
  }
  if (checksum == 0) std::fprintf(stderr, "no fields\n");
  return rows;
}

template <typename Record>
int64_t ReadTyped(const std::filesystem::path& path) {
  auto reader = hm::RecordReader<Record>::Open(path.string());
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", reader.status().ToString().c_str());
    std::exit(1);
  }
  Record record;
  for (;;) {
    Result<bool> more = (*reader)->Next(&record);
    if (!more.ok()) {
      std::fprintf(stderr, "%s\n", more.status().ToString().c_str());
      std::exit(1);
    }
    if (!*more) break;
  }
  const hm::LoadStats& stats = (*reader)->stats();
  if (stats.rows_rejected != 0) {
    std::fprintf(stderr, "%lld rows rejected, first: %s\n",
                 static_cast<long long>(stats.rows_rejected), stats.errors[0].ToString().c_str());
    std::exit(1);
  }
  return stats.rows_ok;
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--mb" && has_value) {
      flags.transactions_mb = std::strtoull(argv[++i], nullptr, 10);
    } else if (arg == "--repeat" && has_value) {
      flags.repeat = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--dir" && has_value) {
      flags.dir = argv[++i];
    } else {
      std::fprintf(stderr, "usage: csv_bench [--mb N] [--repeat N] [--dir DIR]\n");
      std::exit(2);
    }
  }
  return flags;
}

}  // namespace

}  // namespace towerstream

int main(int argc, char** argv) {
  using namespace towerstream;
  const Flags flags = ParseFlags(argc, argv);
  const std::filesystem::path dir = flags.dir / ("csv_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path transactions = dir / "transactions.csv";
  const std::filesystem::path articles = dir / "articles.csv";
  WriteTransactions(transactions, flags.transactions_mb * 1000000);
  WriteArticles(articles, flags.articles_mb * 1000000);
  std::printf("one core, best of %d passes, files in %s (page cache warm)\n", flags.repeat,
              dir.c_str());
  const double floor_tx = Report("baseline: read + find newlines", transactions, flags.repeat,
                                 [&] { return ReadAndCountLines(transactions); });
  Report(
      "csv::Reader transactions", transactions, flags.repeat,
      [&] { return ParseOnly(transactions); }, floor_tx);
  Report(
      "hm::TransactionReader", transactions, flags.repeat,
      [&] { return ReadTyped<hm::Transaction>(transactions); }, floor_tx);
  const double floor_articles = Report("baseline: read + find newlines", articles, flags.repeat,
                                       [&] { return ReadAndCountLines(articles); });
  Report(
      "csv::Reader articles (quoted)", articles, flags.repeat, [&] { return ParseOnly(articles); },
      floor_articles);
  Report(
      "hm::ArticleReader", articles, flags.repeat, [&] { return ReadTyped<hm::Article>(articles); },
      floor_articles);
  std::filesystem::remove_all(dir);
  return 0;
}
