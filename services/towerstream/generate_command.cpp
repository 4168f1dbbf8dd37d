// `towerstream generate`: writes synthetic H&M-shaped CSV files (common/datagen).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "common/base/date.h"
#include "common/base/progress.h"
#include "common/datagen/generator.h"
#include "common/evaluation/best_possible.h"
#include "services/towerstream/cli_support.h"
#include "services/towerstream/commands.h"

namespace towerstream::cli {
namespace {

struct GenerateArgs {
  std::string out;
  datagen::GeneratorOptions options;
  std::string start_date = "2018-09-20";
  bool full_scale = false;
  bool quiet = false;
  bool no_best_possible = false;
};

int Fail(int code, const std::string& message) { return cli::Fail("generate", code, message); }

int RunGenerate(GenerateArgs& args) {
  datagen::GeneratorOptions& options = args.options;
  if (args.full_scale) {
    const datagen::GeneratorOptions full = datagen::GeneratorOptions::FullScale();
    options.customers = full.customers;
    options.articles = full.articles;
    options.transactions = full.transactions;
  }
  Result<Date> start = Date::Parse(args.start_date);
  if (!start.ok()) return Fail(2, "--start-date: " + start.status().message());
  options.start_date = *start;
  options.progress = !args.quiet;
  if (Status s = options.Validate(); !s.ok()) return Fail(2, s.message());

  // The oracle's rankings, scored like `evaluate` scores a model.
  evaluation::BestPossibleAccumulator best;
  datagen::OracleSink oracle;
  if (!args.no_best_possible) {
    oracle = [&best](const datagen::OracleRanking& r) {
      best.Add(r.actual, r.new_articles, r.predicted, r.bought_before);
    };
  }
  Result<datagen::GenerateSummary> summary = datagen::Generate(options, args.out, oracle);
  if (!summary.ok()) return Fail(1, summary.status().message());
  std::string best_line;
  if (summary->held_out) {
    evaluation::BestPossible figures = best.Finish(summary->articles.rows);
    figures.test_start = summary->held_out->start;
    figures.test_end = summary->held_out->end;
    figures.purchases = summary->held_out->purchases;
    figures.method = std::string(datagen::kOracleMethod);
    Result<std::filesystem::path> written = evaluation::WriteBestPossible(figures, args.out);
    if (!written.ok()) return Fail(1, written.status().message());
    char line[256];
    std::snprintf(
        line, sizeof(line),
        "  %-24s MAP@12 %.4f, recall@12 %.4f, recall@100 %.4f (best achievable on "
        "%s..%s, %s buyers, ranked in %s)\n",
        (std::string(evaluation::kGroundTruthDir) + "/" +
         std::string(evaluation::kBestPossibleFile))
            .c_str(),
        figures.metrics.map_at_12, figures.metrics.recall_at_12, figures.metrics.recall_at_100,
        figures.test_start.ToString().c_str(), (figures.test_end + (-1)).ToString().c_str(),
        FormatCount(figures.customers).c_str(), FormatDuration(summary->held_out->seconds).c_str());
    best_line = line;
  }
  if (args.quiet) return 0;

  std::printf("towerstream generate: wrote %s in %s (%s transactions/s, peak memory %s)\n",
              args.out.c_str(), FormatDuration(summary->seconds).c_str(),
              FormatCount(static_cast<int64_t>(summary->transactions.rows /
                                               std::max(summary->transactions.seconds, 1e-9)))
                  .c_str(),
              FormatBytes(PeakResidentBytes()).c_str());
  for (const datagen::WrittenFile* f :
       {&summary->articles, &summary->customers, &summary->transactions}) {
    std::printf("  %-24s %12s rows %10s\n", f->path.filename().c_str(),
                FormatCount(f->rows).c_str(), FormatBytes(f->bytes).c_str());
  }
  std::fputs(best_line.c_str(), stdout);
  return 0;
}

}  // namespace

void AddGenerateCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "generate",
      "Write synthetic data in the exact format of the H&M Kaggle files (articles.csv, "
      "customers.csv, transactions_train.csv), calibrated to the real data's shares and daily "
      "curve and with structure a recommender can learn: tastes by age and per customer, "
      "launches and fading popularity, seasons, baskets and repeat purchases. The same seed "
      "gives the same bytes. Beside them, ground-truth/best_possible.json holds the best "
      "figures any recommender can expect on the held-out week (the generator's own ranking; "
      "no command reads CSV files from that folder).");
  cmd->footer(
      "Examples:\n"
      "  towerstream generate --out data/small                  # default size, trains in minutes\n"
      "  towerstream generate --out data/full --full-scale      # Kaggle's size (~3.7 GB)\n"
      "  towerstream generate --out data/x --customers 1000 --articles 500 --transactions 20000 "
      "--seed 7");
  cmd->add_option("--out", args->out,
                  "Directory to write the three CSV files into (created if missing)")
      ->required()
      ->type_name("DIR");
  auto* customers = cmd->add_option("--customers", args->options.customers, "Rows of customers.csv")
                        ->capture_default_str()
                        ->type_name("N");
  auto* articles = cmd->add_option("--articles", args->options.articles, "Rows of articles.csv")
                       ->capture_default_str()
                       ->type_name("M");
  auto* transactions = cmd->add_option("--transactions", args->options.transactions,
                                       "Rows of transactions_train.csv")
                           ->capture_default_str()
                           ->type_name("T");
  cmd->add_option("--seed", args->options.seed,
                  "Random seed; the same seed gives byte-identical files")
      ->capture_default_str()
      ->type_name("S");
  cmd->add_option("--start-date", args->start_date, "First t_dat (YYYY-MM-DD)")
      ->capture_default_str()
      ->type_name("DATE");
  cmd->add_option("--days", args->options.days, "Number of days of transactions")
      ->capture_default_str()
      ->type_name("D");
  cmd->add_option("--first-days", args->options.first_days,
                  "Write only the transactions of the first N days (0: all): the same rows as "
                  "the first N days of the whole file, e.g. a prefix of --full-scale with every "
                  "customer and article")
      ->capture_default_str()
      ->type_name("N");
  cmd->add_flag("--full-scale", args->full_scale,
                "Kaggle's sizes: 1,371,980 customers, 105,542 articles, 31,788,324 transactions")
      ->excludes(customers)
      ->excludes(articles)
      ->excludes(transactions);
  cmd->add_flag("--no-best-possible", args->no_best_possible,
                "Skip ground-truth/best_possible.json. By default generate also writes there the "
                "best achievable MAP@12, recall@12 and recall@100 on the held-out week (the last 7 "
                "days, which train holds out and evaluate scores): each buyer's top 100 articles "
                "ranked by the generator's own purchase probabilities given everything before "
                "the week, scored like evaluate, overall and by its segments");
  cmd->add_flag("--quiet,-q", args->quiet, "No progress bar and no summary (errors still print)");
  cmd->callback([args, exit_code] { *exit_code = RunGenerate(*args); });
}

}  // namespace towerstream::cli
