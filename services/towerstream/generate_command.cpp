// `towerstream generate`: writes synthetic H&M-shaped CSV files (common/datagen).
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "common/base/date.h"
#include "common/base/progress.h"
#include "common/datagen/generator.h"
#include "services/towerstream/commands.h"

namespace towerstream::cli {
namespace {

struct GenerateArgs {
  std::string out;
  datagen::GeneratorOptions options;
  std::string start_date = "2018-09-20";
  bool full_scale = false;
  bool quiet = false;
};

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "towerstream generate: %s\n", message.c_str());
  return code;
}

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

  Result<datagen::GenerateSummary> summary = datagen::Generate(options, args.out);
  if (!summary.ok()) return Fail(1, summary.status().message());
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
      "gives the same bytes.");
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
  cmd->add_flag("--quiet,-q", args->quiet, "No progress bar and no summary (errors still print)");
  cmd->callback([args, exit_code] { *exit_code = RunGenerate(*args); });
}

}  // namespace towerstream::cli
