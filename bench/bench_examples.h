// Synthetic model::Example streams with the shapes of the H&M stream, for the benchmarks (LibTorch
// only: the core-only build has it too).
//
// The distributions and the order of random draws are trainer_bench's SyntheticStream's, so that
// it can use this header without its figures moving.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/model/example.h"

namespace towerstream::bench {

struct SyntheticOptions {
  // Distinct ids. Both are drawn with a power-law skew (a few customers buy often, a few articles
  // sell most), so the tables' rows in use stay far below these at benchmark lengths.
  int64_t customers = 100'000;
  int64_t articles = 20'000;
  // Recent purchases per example; about one example in history + 1 has none (a new customer).
  int64_t history = 20;
  uint64_t seed = 7;
};

// Deterministic per options: the same options give the same examples, in every process.
class SyntheticExamples {
 public:
  explicit SyntheticExamples(const SyntheticOptions& options)
      : options_(options), rng_(options.seed) {
    std::uniform_int_distribution<int64_t> small(0, 200);
    article_codes_.reserve(static_cast<size_t>(options.articles));
    for (int64_t a = 0; a < options.articles; ++a) {
      model::ArticleCodes codes;
      codes.known = true;
      codes.codes[model::kProductCode] = a / 3;  // colour variants share a product
      for (int64_t k = 1; k < model::kItemCodeCount; ++k) codes.codes[k] = small(rng_) * 7 + k;
      article_codes_.push_back(codes);
    }
  }

  // The next purchase; customer_key is the customer's index in [0, customers).
  model::Example Next() {
    model::Example e;
    const int64_t customer = Skewed(options_.customers, 2.0);
    e.customer_key = customer;
    e.article_id = Skewed(options_.articles, 3.0);
    e.article = article_codes_[e.article_id];
    e.day = 18'000 + static_cast<int32_t>(customer % 365);
    e.sales_channel = 1 + static_cast<int32_t>(customer % 2);
    e.customer.known = true;
    if (customer % 97 != 0) e.customer.age = static_cast<int32_t>(18 + customer % 60);
    e.customer.club_member_status = 1 + customer % 3;
    e.customer.fashion_news_frequency = 1 + customer % 3;
    e.customer.fn = 1 + customer % 2;
    e.customer.active = 1 + customer % 2;
    e.customer.postal_code = model::StringCode(std::to_string(customer / 4));
    const int64_t recent = std::uniform_int_distribution<int64_t>(0, options_.history)(rng_) == 0
                               ? 0
                               : options_.history;
    for (int64_t k = 0; k < recent; ++k) {
      e.recent_article_ids.push_back(Skewed(options_.articles, 3.0));
    }
    return e;
  }

  // Every id once, in order: customer i bought article i % articles (to admit every id).
  model::Example Covering(int64_t i) {
    model::Example e = Next();
    e.customer_key = i % options_.customers;
    e.article_id = i % options_.articles;
    e.article = article_codes_[e.article_id];
    return e;
  }

 private:
  int64_t Skewed(int64_t n, double power) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    return std::min<int64_t>(n - 1,
                             static_cast<int64_t>(std::pow(u, power) * static_cast<double>(n)));
  }

  SyntheticOptions options_;
  std::mt19937_64 rng_;
  std::vector<model::ArticleCodes> article_codes_;
};

}  // namespace towerstream::bench
