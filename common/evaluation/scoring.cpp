// RankCustomers: queries, the towers' exact search, candidates and the ranker, in chunks.
#include "common/evaluation/scoring.h"

#include <algorithm>
#include <string>

#include "common/hm/hm_reader.h"
#include "common/trainer/embedded_trainer.h"

namespace towerstream::evaluation {
namespace {

// Customers embedded per matrix product with the catalogue.
constexpr int64_t kQueryChunk = 1024;

}  // namespace

Result<TestWindow> FindTestWindow(const std::filesystem::path& data_dir,
                                  std::optional<Date> test_start, int test_days,
                                  std::string_view command) {
  TestWindow window;
  TS_ASSIGN_OR_RETURN(window.files, replay::FindDataFiles(data_dir));
  if (window.files.transactions.empty()) {
    return window.files.Missing(command, "transactions", data_dir);
  }
  if (test_start) {
    window.start = *test_start;
  } else {
    TS_ASSIGN_OR_RETURN(const Date last, trainer::LastTransactionDate(window.files.transactions));
    window.start = last + (1 - test_days);
  }
  window.end = window.start + test_days;
  return window;
}

Status ForEachArticle(const replay::DataFiles& files,
                      const std::function<void(hm::ArticleId, const model::ArticleCodes&)>& add) {
  if (files.articles.empty()) return Status::Ok();
  TS_ASSIGN_OR_RETURN(auto reader, hm::ArticleReader::Open(files.articles));
  hm::Article article;
  while (true) {
    TS_ASSIGN_OR_RETURN(const bool more, reader->Next(&article));
    if (!more) return Status::Ok();
    add(article.article_id, model::ArticleCodesOf(article));
  }
}

Result<ScoringCatalogue> ScoringCatalogue::Of(model::TwoTowerModel& model, torch::Device device) {
  ScoringCatalogue out;
  TS_ASSIGN_OR_RETURN(out.items, model.CatalogueEmbeddings());
  out.matrix = out.items.vectors.to(device);
  out.by_id = ranking::ItemVectors(out.items.ids, out.items.vectors);
  return out;
}

Status GatherCandidatesFor(
    model::TwoTowerModel& model, const serving::CustomerHistories& histories,
    const ScoringCatalogue& catalogue, std::span<const int64_t> customers,
    const ranking::CandidateOptions& options,
    const std::function<void(size_t index, std::span<const ranking::RankedArticle> nearest,
                             std::span<const ranking::Candidate> candidates)>& visit) {
  std::vector<model::Example> queries;
  std::vector<ranking::Candidate> candidates;
  for (size_t begin = 0; begin < customers.size(); begin += kQueryChunk) {
    const size_t end = std::min(customers.size(), begin + kQueryChunk);
    queries.clear();
    for (size_t i = begin; i < end; ++i) queries.push_back(histories.QueryFor(customers[i]));
    TS_ASSIGN_OR_RETURN(torch::Tensor vectors, model.QueryEmbeddings(queries));
    TS_ASSIGN_OR_RETURN(
        const auto nearest,
        ranking::ExactTowerNearest(vectors.to(catalogue.matrix.device()), catalogue.matrix,
                                   catalogue.items.ids, options.from_towers));
    vectors = vectors.to(torch::kCPU, torch::kFloat32).contiguous();
    for (size_t i = begin; i < end; ++i) {
      ranking::CustomerContext customer;
      customer.query =
          vectors.data_ptr<float>() + static_cast<int64_t>(i - begin) * vectors.size(1);
      customer.purchases = histories.PastPurchases(customers[i]);
      customer.tower_nearest = nearest[i - begin];
      candidates.clear();
      ranking::GatherCandidates(customer, histories.articles_as_of(), catalogue.by_id, options,
                                &candidates);
      visit(i, customer.tower_nearest, candidates);
    }
  }
  return Status::Ok();
}

Result<RankedCustomers> RankCustomers(model::TwoTowerModel& model, const ranking::Ranker& ranker,
                                      const serving::CustomerHistories& histories,
                                      const ScoringCatalogue& catalogue,
                                      std::span<const int64_t> customers, int64_t k) {
  RankedCustomers out;
  out.ranked.resize(customers.size());
  out.towers.resize(customers.size());
  ranking::CandidateOptions options = ranker.candidates();
  options.from_towers = std::max(k, options.from_towers);
  TS_RETURN_IF_ERROR(GatherCandidatesFor(
      model, histories, catalogue, customers, options,
      [&](size_t i, std::span<const ranking::RankedArticle> nearest,
          std::span<const ranking::Candidate> candidates) {
        for (const ranking::RankedArticle& a : ranker.Rank(candidates, k)) {
          out.ranked[i].push_back(a.article_id);
        }
        for (const ranking::RankedArticle& a : nearest.first(
                 std::min(nearest.size(), static_cast<size_t>(std::max<int64_t>(k, 0))))) {
          out.towers[i].push_back(a.article_id);
        }
      }));
  return out;
}

}  // namespace towerstream::evaluation
