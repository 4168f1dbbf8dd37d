// `towerstream evaluate`: MAP@12, recall@12/@100 and coverage of a snapshot against popularity
// and "buy again, then trending", overall and by segment.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/evaluation/evaluator.h"
#include "common/evaluation/online_replay.h"
#include "common/evaluation/plots.h"
#include "common/model/two_tower_model.h"
#include "services/towerstream/commands.h"

namespace towerstream::cli {
namespace {

struct EvaluateArgs {
  std::string snapshot;
  std::string data;
  std::string test_start;
  int test_days = 7;
  int baseline_days = 7;
  std::string report;
  std::string plot_dir;
  std::string device = "cpu";
  std::string best_possible;
  bool online = false;
  int64_t online_batch_size = 512;
  bool quiet = false;
};

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "towerstream evaluate: %s\n", message.c_str());
  return code;
}

int RunEvaluate(const EvaluateArgs& args) {
  evaluation::EvaluateOptions options;
  options.snapshot = args.snapshot;
  options.data_dir = args.data;
  if (!args.test_start.empty()) {
    Result<Date> start = Date::Parse(args.test_start);
    if (!start.ok()) return Fail(2, "--test-start: " + start.status().message());
    options.test_start = *start;
  }
  options.test_days = args.test_days;
  options.baseline_days = args.baseline_days;
  options.progress = !args.quiet;
  options.best_possible = args.best_possible;
  Result<torch::Device> device = model::ResolveDevice(args.device);
  if (!device.ok()) return Fail(2, device.status().message());
  options.device = *device;
  Result<evaluation::EvaluationReport> report = evaluation::Evaluate(options);
  if (!report.ok()) return Fail(1, report.status().message());
  std::printf("%s", evaluation::FormatReport(*report).c_str());
  nlohmann::json json = evaluation::ReportJson(*report);
  if (args.online) {
    std::fflush(stdout);
    evaluation::OnlineReplayOptions online;
    online.snapshot = args.snapshot;
    online.data_dir = args.data;
    online.test_start = report->test_start;
    online.test_days = args.test_days;
    online.batch_size = args.online_batch_size;
    online.device = options.device;
    online.progress = !args.quiet;
    Result<evaluation::OnlineReport> replay = evaluation::ReplayOnline(online);
    if (!replay.ok()) return Fail(1, replay.status().message());
    std::printf("\n%s", evaluation::FormatOnlineReport(*replay).c_str());
    json["online"] = evaluation::OnlineReportJson(*replay);
  }
  if (!args.report.empty()) {
    std::ofstream out(args.report, std::ios::trunc);
    out << json.dump(2) << "\n";
    out.close();
    if (!out) return Fail(1, "cannot write the report to " + args.report);
    std::fprintf(stderr, "towerstream evaluate: report written to %s\n", args.report.c_str());
  }
  if (!args.plot_dir.empty()) {
    Result<std::vector<std::string>> plots = evaluation::WritePlots(*report, args.plot_dir);
    if (!plots.ok()) return Fail(1, plots.status().message());
    for (const std::string& line : *plots) {
      std::fprintf(stderr, "towerstream evaluate: %s\n", line.c_str());
    }
  }
  return 0;
}

}  // namespace

void AddEvaluateCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<EvaluateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate",
      "Score a snapshot on held-out purchases: for every customer who bought in the test week, "
      "the top 100 of all articles for their query as of the week's start, against what they "
      "bought. Prints Kaggle's MAP@12 (the competition's exact definition), recall@12, "
      "recall@100 and catalogue coverage, beside two baselines: popularity (the articles most "
      "bought in the week before) and buy again, then trending (the customer's own earlier "
      "purchases, most recent first, then those best sellers). Then the same figures by "
      "segment: customers with and without earlier purchases, and purchases of articles first "
      "sold inside the test window.");
  cmd->footer(
      "MAP@12: mean over those customers of AP@12 = (1/min(m,12)) * sum of precision@k at each "
      "rank k <= 12 holding an article they bought (m distinct articles bought). Coverage: "
      "distinct articles in some top 12, over the catalogue (articles.csv).\n"
      "Examples:\n"
      "  towerstream evaluate --snapshot snapshots/ --data data/\n"
      "  towerstream evaluate --snapshot snapshots/s000000001234-20261129T101500.123Z "
      "--data data/ --test-start 2020-09-16 --report report.json");
  cmd->add_option("--snapshot", args->snapshot,
                  "A snapshot directory, or a snapshot folder (its LATEST)")
      ->required()
      ->check(CLI::ExistingPath)
      ->type_name("PATH");
  cmd->add_option("--data", args->data, "Folder with the H&M CSV files")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->type_name("DIR");
  cmd->add_option("--test-start", args->test_start,
                  "First day of the test window (default: the last --test-days of the file)")
      ->type_name("YYYY-MM-DD");
  cmd->add_option("--test-days", args->test_days, "Length of the test window")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--baseline-days", args->baseline_days,
                  "Days before the test window whose best sellers make the popularity baseline "
                  "(and the trending part of buy again, then trending)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--report", args->report,
                  "Also write the figures as JSON: {\"model\": {...}, \"popularity\": {...}, "
                  "\"repurchase\": {...}, \"segments\": {...}}")
      ->type_name("FILE");
  cmd->add_option("--plot", args->plot_dir,
                  "Also write SVG charts into DIR: recall@k for k = 1..100 (model and both "
                  "baselines), and training loss and progressive recall over examples trained "
                  "(from the snapshot folder's training_log.csv)")
      ->type_name("DIR");
  cmd->add_option("--best-possible", args->best_possible,
                  "The ground truth `towerstream generate` wrote beside its data (the data "
                  "folder, its ground-truth folder or best_possible.json): every figure is then "
                  "also given as a share of the best achievable on the test window")
      ->check(CLI::ExistingPath)
      ->type_name("PATH");
  cmd->add_flag("--online", args->online,
                "Then replay the test window day by day: each day's buyers are ranked with the "
                "model and histories as of the end of the day before, then the model trains on "
                "that day's purchases; printed per day and overall (per customer and day) beside "
                "the snapshot frozen at the window's start and the baselines updated daily. "
                "The JSON report gets an \"online\" object");
  cmd->add_option("--online-batch-size", args->online_batch_size,
                  "Examples per training step while replaying online")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  cmd->add_option("--device", args->device, "Where to score: cpu, cuda[:N] or auto")
      ->capture_default_str();
  cmd->add_flag("-q,--quiet", args->quiet, "No progress bar");
  cmd->callback([args, exit_code] { *exit_code = RunEvaluate(*args); });
}

}  // namespace towerstream::cli
