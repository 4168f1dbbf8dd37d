// `towerstream recommend`: the top k articles of a snapshot for some customers, printed beside
// what they bought before (and, with --as-of, what they really bought from that day on).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/serving/customer_histories.h"
#include "common/serving/history_source.h"
#include "common/serving/live_histories.h"
#include "common/serving/recommender.h"
#include "services/towerstream/cli_support.h"
#include "services/towerstream/commands.h"
#include "services/towerstream/serving_flags.h"

namespace towerstream::cli {
namespace {

struct RecommendArgs {
  QuerySourceFlags source;
  std::vector<std::string> customer_ids;
  int64_t k = 12;
  bool exclude_purchased = false;
  bool json = false;
};

int Fail(int code, const std::string& message) { return cli::Fail("recommend", code, message); }

std::string Describe(const serving::CustomerHistories& histories, hm::ArticleId article) {
  const serving::ArticleDescription* d = histories.Describe(article);
  if (d == nullptr) return "(not in articles.csv)";
  return d->name + " · " + d->type + " · " + d->colour;
}

int PrintRecommendations(const RecommendArgs& args, serving::Recommender& recommender,
                         const serving::CustomerHistories& histories, std::optional<Date> as_of,
                         std::unordered_map<int64_t, std::vector<hm::ArticleId>>& later);

int RunRecommend(const RecommendArgs& args) {
  for (const std::string& id : args.customer_ids) {
    if (!hm::IsValidCustomerId(id)) {
      return Fail(2, "--customer-id " + id + ": must be 64 lowercase hex characters");
    }
  }
  if (Status usage = args.source.Check(); !usage.ok()) return Fail(kUsageExit, usage.message());
  Result<serving::CustomerHistoryOptions> history_flags = HistoryOptionsFrom(args.source);
  if (!history_flags.ok()) return Fail(kUsageExit, history_flags.status().message());
  serving::CustomerHistoryOptions& history_options = *history_flags;
  serving::RecommenderOptions options;
  options.snapshot = args.source.snapshot;
  Result<std::unique_ptr<serving::Recommender>> recommender = serving::Recommender::Load(options);
  if (!recommender.ok()) return Fail(1, recommender.status().message());
  history_options.history_length = static_cast<size_t>((*recommender)->history_length());

  // The distinct articles each requested customer bought on or after as_of: what the
  // recommendations are meant to predict.
  std::unordered_map<int64_t, std::vector<hm::ArticleId>> later;
  for (const std::string& id : args.customer_ids) later[model::CustomerKey(id)];
  const auto collect_later = [&](const hm::Transaction& t) {
    if (!history_options.as_of || t.t_dat < *history_options.as_of) return;
    const auto it = later.find(model::CustomerKey(t.customer_id));
    if (it != later.end() &&
        std::find(it->second.begin(), it->second.end(), t.article_id) == it->second.end()) {
      it->second.push_back(t.article_id);
    }
  };
  std::unique_ptr<serving::HistorySource> source;
  if (args.source.FromKafka()) {
    Result<std::unique_ptr<serving::LiveHistories>> live =
        StartLiveHistories(args.source, "recommend", history_options.history_length);
    if (!live.ok()) {
      return Fail(live.status().code() == StatusCode::kInvalidArgument ? kUsageExit : 1,
                  live.status().message());
    }
    source = std::move(live).value();
  } else {
    Result<serving::CustomerHistories> loaded =
        serving::CustomerHistories::Load(history_options, collect_later);
    if (!loaded.ok()) return Fail(1, loaded.status().message());
    source = std::make_unique<serving::FixedHistories>(std::move(loaded).value());
  }
  int code = 0;
  source->Read([&](const serving::CustomerHistories& histories) {
    code = PrintRecommendations(args, **recommender, histories, history_options.as_of, later);
  });
  return code;
}

int PrintRecommendations(const RecommendArgs& args, serving::Recommender& recommender,
                         const serving::CustomerHistories& histories, std::optional<Date> as_of,
                         std::unordered_map<int64_t, std::vector<hm::ArticleId>>& later) {
  if (!args.json) {
    std::printf("ranking: %s\n\n", recommender.ranker().Describe().c_str());
  }
  nlohmann::json out = nlohmann::json::array();
  for (const std::string& id : args.customer_ids) {
    const int64_t key = model::CustomerKey(id);
    const model::Example query = histories.QueryFor(key);
    Result<std::vector<serving::ScoredArticle>> top =
        recommender.Recommend(histories, key, args.k, args.exclude_purchased);
    if (!top.ok()) return Fail(1, top.status().message());
    const std::vector<hm::ArticleId>& bought_later = later[key];
    if (args.json) {
      nlohmann::json c = {{"customer_id", id},
                          {"known", histories.Knows(key)},
                          {"as_of", histories.as_of().ToString()},
                          {"snapshot", recommender.manifest().id}};
      for (const auto& a : *top) {
        c["recommendations"].push_back(
            {{"article_id", hm::FormatArticleId(a.article_id)}, {"score", a.score}});
      }
      c["recent_purchases"] = nlohmann::json::array();
      for (const auto a : query.recent_article_ids) {
        c["recent_purchases"].push_back(hm::FormatArticleId(a));
      }
      c["bought_later"] = nlohmann::json::array();
      for (const auto a : bought_later) c["bought_later"].push_back(hm::FormatArticleId(a));
      out.push_back(std::move(c));
      continue;
    }
    std::printf("customer %s%s, as of %s\n", id.c_str(),
                histories.Knows(key) ? "" : " (unknown: features and history missing)",
                histories.as_of().ToString().c_str());
    const auto& recent = query.recent_article_ids;
    const size_t shown = std::min<size_t>(recent.size(), 5);
    std::printf("  last %zu of %zu recent purchases:", shown, recent.size());
    for (size_t i = recent.size() - shown; i < recent.size(); ++i) {
      std::printf(" %s", hm::FormatArticleId(recent[i]).c_str());
    }
    std::printf("\n  %-4s %-10s %6s  %s\n", "rank", "article", "score", "description");
    for (size_t r = 0; r < top->size(); ++r) {
      const serving::ScoredArticle& a = (*top)[r];
      const bool hit =
          std::find(bought_later.begin(), bought_later.end(), a.article_id) != bought_later.end();
      std::printf("  %-4zu %s %6.3f  %s%s\n", r + 1, hm::FormatArticleId(a.article_id).c_str(),
                  a.score, Describe(histories, a.article_id).c_str(), hit ? "   <- bought" : "");
    }
    if (as_of) {
      std::printf("  really bought from %s on (%zu):\n", as_of->ToString().c_str(),
                  bought_later.size());
      for (const hm::ArticleId a : bought_later) {
        std::printf("       %s         %s\n", hm::FormatArticleId(a).c_str(),
                    Describe(histories, a).c_str());
      }
    }
    std::printf("\n");
  }
  if (args.json) std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace

void AddRecommendCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<RecommendArgs>();
  CLI::App* cmd = app.add_subcommand(
      "recommend",
      "Print the top k articles of a snapshot for customers: their query (features and last "
      "purchases: before --as-of from the H&M files with --data, or everything the pipeline's "
      "topics hold with --kafka) through the snapshot's query tower, then "
      "the nearest articles of its catalogue (exact search, or an HNSW graph for large "
      "catalogues).");
  cmd->footer(
      "With --as-of, what each customer really bought from that day on is listed too, and "
      "recommended articles among them are marked.\n"
      "Examples:\n"
      "  towerstream recommend --snapshot snapshots/ --data data/ --customer-id "
      "00000dbacae5abe5e23885899a1fa44253a17956c6d1c3d25f88aa139fdfc657 -k 12\n"
      "  towerstream recommend --snapshot snapshots/ --data data/ --as-of 2020-09-16 "
      "--customer-id ID1 --customer-id ID2 --json\n"
      "  towerstream recommend --snapshot snapshots/ --kafka bootstrap.servers=127.0.0.1:9092 "
      "--customer-id ID");
  AddQuerySourceFlags(cmd, &args->source,
                      "A snapshot directory, or a snapshot folder (its LATEST)");
  cmd->add_option("--customer-id", args->customer_ids, "Customer to recommend for (repeatable)")
      ->required()
      ->type_name("ID");
  cmd->add_option("-k", args->k, "Articles per customer")
      ->capture_default_str()
      ->check(InRange(1, 1000));
  cmd->add_flag("--exclude-purchased", args->exclude_purchased,
                "Leave out articles among the customer's recent purchases");
  cmd->add_flag("--json", args->json, "Print JSON instead of tables");
  cmd->callback([args, exit_code] { *exit_code = RunRecommend(*args); });
}

}  // namespace towerstream::cli
