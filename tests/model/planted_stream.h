// A synthetic purchase stream with a planted structure, for model tests: customers belong to
// segments, each segment buys mostly from its own category of articles.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "common/model/example.h"

namespace towerstream::model::testing {

class PlantedStream {
 public:
  // `customers` customers in `segments` segments (customer c is in segment c % segments),
  // `articles` articles in as many categories (article a is in category a % segments); a
  // purchase stays in the customer's category with probability `loyalty`, else any article.
  PlantedStream(int64_t customers, int64_t articles, int64_t segments, double loyalty,
                uint64_t seed)
      : customers_(customers),
        articles_(articles),
        segments_(segments),
        loyalty_(loyalty),
        rng_(seed),
        history_(static_cast<size_t>(customers)) {}

  model::ArticleCodes CodesOf(hm::ArticleId a) const {
    model::ArticleCodes codes;
    codes.known = true;
    codes.codes[model::kProductCode] = a;
    codes.codes[model::kProductType] = 1 + a % segments_;  // the category
    codes.codes[model::kColourGroup] = 1 + a % 7;
    return codes;
  }

  model::Example Next() {
    const int64_t c = Uniform(customers_);
    const int64_t segment = c % segments_;
    hm::ArticleId a;
    if (Unit() < loyalty_) {
      // Skewed within the category: low ranks are popular.
      const int64_t per_category = std::max<int64_t>(1, articles_ / segments_);
      const auto rank = static_cast<int64_t>(Unit() * Unit() * static_cast<double>(per_category));
      a = std::min(articles_ - 1, rank * segments_ + segment);
    } else {
      a = Uniform(articles_);
    }
    model::Example e;
    e.customer_key = 1000 + c;
    e.article_id = a;
    e.article = CodesOf(a);
    e.day = 18'500 + static_cast<int32_t>(step_++ / 1000);
    e.sales_channel = 1 + static_cast<int32_t>(c % 2);
    e.customer.known = true;
    e.customer.age = static_cast<int32_t>(20 + c % 50);
    e.customer.postal_code = model::StringCode(std::to_string(c));
    std::vector<hm::ArticleId>& h = history_[static_cast<size_t>(c)];
    e.recent_article_ids = h;
    h.push_back(a);
    if (h.size() > 20) h.erase(h.begin());
    return e;
  }

  std::vector<model::Example> Batch(int64_t n) {
    std::vector<model::Example> batch;
    for (int64_t i = 0; i < n; ++i) batch.push_back(Next());
    return batch;
  }

 private:
  int64_t Uniform(int64_t n) { return std::uniform_int_distribution<int64_t>(0, n - 1)(rng_); }
  double Unit() { return std::uniform_real_distribution<double>(0, 1)(rng_); }

  int64_t customers_, articles_, segments_;
  double loyalty_;
  std::mt19937_64 rng_;
  std::vector<std::vector<hm::ArticleId>> history_;
  int64_t step_ = 0;
};

}  // namespace towerstream::model::testing
