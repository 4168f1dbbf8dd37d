// The planted-structure dataset writer of the trainer's tests.
#include "tests/trainer/planted_data.h"

#include <cstdio>
#include <memory>
#include <random>

#include "common/hm/records.h"

namespace towerstream::trainer::testing {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

Result<File> Create(const std::filesystem::path& path, std::string_view header) {
  File f(std::fopen(path.c_str(), "w"));
  if (!f) return Status::IoError("cannot create " + path.string());
  std::fprintf(f.get(), "%.*s\n", static_cast<int>(header.size()), header.data());
  return f;
}

}  // namespace

std::string PlantedCustomerId(int n) {
  char id[65];
  std::snprintf(id, sizeof(id), "%016x%048x", 0x5eed0000u + static_cast<unsigned>(n), 0u);
  return id;
}

Result<int64_t> WritePlantedData(const std::filesystem::path& dir, const PlantedDataOptions& o) {
  std::filesystem::create_directories(dir);
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unit(0, 1);
  {
    TS_ASSIGN_OR_RETURN(File f, Create(dir / "articles.csv", hm::kArticlesHeader));
    for (int a = 0; a < o.articles; ++a) {
      const int segment = a % o.segments;
      std::fprintf(f.get(),
                   "%s,%d,Article %d,%d,Type %d,Garment Upper body,1010016,Solid,%d,Colour %d,"
                   "2,Medium,%d,Master %d,%d,Department %d,A,Ladieswear,1,Ladieswear,%d,"
                   "Section %d,%d,Garment %d,A planted article\n",
                   hm::FormatArticleId(100000000 + a).c_str(), 500000 + a, a, 200 + segment,
                   segment, 1 + a % 7, a % 7, 1 + a % 5, a % 5, 1000 + segment, segment,
                   10 + segment, segment, 1000 + segment, segment);
    }
  }
  {
    TS_ASSIGN_OR_RETURN(File f, Create(dir / "customers.csv", hm::kCustomersHeader));
    for (int c = 0; c < o.customers; ++c) {
      std::fprintf(f.get(), "%s,1.0,1.0,ACTIVE,Regularly,%d,postal%d\n",
                   PlantedCustomerId(c).c_str(), 20 + c % 50, c % 37);
    }
  }
  int64_t rows = 0;
  TS_ASSIGN_OR_RETURN(File f, Create(dir / "transactions_train.csv", hm::kTransactionsHeader));
  const int per_segment = std::max(1, o.articles / o.segments);
  for (int day = 0; day < o.days; ++day) {
    const std::string date = (o.start + day).ToString();
    for (int c = 0; c < o.customers; ++c) {
      if (unit(rng) >= o.daily_buy_rate) continue;
      const int items = unit(rng) < 0.5 ? 1 : 2;
      for (int i = 0; i < items; ++i) {
        int article;
        if (unit(rng) < o.loyalty) {
          // Uniform within the segment: no best seller stands out to a popularity baseline.
          const int rank = static_cast<int>(unit(rng) * per_segment);
          article = std::min(o.articles - 1, rank * o.segments + c % o.segments);
        } else {
          article = static_cast<int>(unit(rng) * o.articles);
        }
        std::fprintf(f.get(), "%s,%s,%s,0.0338813559322034,%d\n", date.c_str(),
                     PlantedCustomerId(c).c_str(), hm::FormatArticleId(100000000 + article).c_str(),
                     1 + (c + day) % 2);
        ++rows;
      }
    }
  }
  return rows;
}

}  // namespace towerstream::trainer::testing
