// `towerstream evaluate`: MAP@12, recall@12/@100 and coverage of a snapshot against popularity
// and "buy again, then trending", overall and by segment.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/evaluation/evaluator.h"
#include "common/evaluation/online_replay.h"
#include "common/evaluation/plots.h"
#include "common/mlflow/tracking_client.h"
#include "common/model/two_tower_model.h"
#include "services/towerstream/cli_support.h"
#include "services/towerstream/commands.h"
#include "services/towerstream/evaluate_tracking.h"

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
  std::string mlflow_uri;
  std::string mlflow_experiment = "towerstream";
  bool mlflow_log_snapshot = false;
};

int Fail(int code, const std::string& message) { return cli::Fail("evaluate", code, message); }

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
  EvaluationTrackingOptions tracking;
  tracking.tracking_uri = args.mlflow_uri;
  tracking.experiment = args.mlflow_experiment;
  tracking.log_snapshot = args.mlflow_log_snapshot;
  if (!args.mlflow_uri.empty()) {
    // A bad URI is a usage error, found before the evaluation rather than after it.
    if (Status s = mlflow::TrackingClient::Create(args.mlflow_uri).status(); !s.ok()) {
      return Fail(2, "--mlflow-uri: " + s.message());
    }
    if (args.mlflow_experiment.empty()) return Fail(2, "--mlflow-experiment must not be empty");
  }
  Result<evaluation::EvaluationReport> report = evaluation::Evaluate(options);
  if (!report.ok()) return Fail(1, report.status().message());
  const std::string report_text = evaluation::FormatReport(*report);
  std::printf("%s", report_text.c_str());
  nlohmann::json json = evaluation::ReportJson(*report);
  std::optional<evaluation::OnlineReport> online_report;
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
    online_report = std::move(replay).value();
  }
  if (!args.report.empty()) {
    std::ofstream out(args.report, std::ios::trunc);
    out << json.dump(2) << "\n";
    out.close();
    if (!out) return Fail(1, "cannot write the report to " + args.report);
    std::fprintf(stderr, "towerstream evaluate: report written to %s\n", args.report.c_str());
  }
  EvaluationOutputs outputs;
  // MLflow gets the charts also without --plot: drawn into a temporary folder.
  std::optional<ScopedTempFolder> chart_folder;
  std::string plot_dir = args.plot_dir;
  if (plot_dir.empty() && !args.mlflow_uri.empty()) {
    Result<ScopedTempFolder> folder = ScopedTempFolder::Create("towerstream-evaluate-plots");
    if (!folder.ok()) return Fail(1, folder.status().message());
    chart_folder.emplace(std::move(folder).value());
    plot_dir = chart_folder->path().string();
  }
  if (!plot_dir.empty()) {
    Result<std::vector<std::string>> plots = evaluation::WritePlots(*report, plot_dir);
    if (!plots.ok()) return Fail(1, plots.status().message());
    for (const std::string& line : *plots) {
      // A line is a chart written (its path) or why one was not.
      if (std::filesystem::is_regular_file(line)) outputs.plots.emplace_back(line);
      if (!args.plot_dir.empty()) std::fprintf(stderr, "towerstream evaluate: %s\n", line.c_str());
    }
  }
  if (!args.mlflow_uri.empty()) {
    std::fflush(stdout);
    outputs.report_text = report_text;
    if (online_report) outputs.report_text += "\n" + evaluation::FormatOnlineReport(*online_report);
    outputs.report_json = json.dump(2) + "\n";
    const Status logged =
        LogEvaluationToMlflow(tracking, *report, online_report ? &*online_report : nullptr, outputs,
                              [](const std::string& line) {
                                std::fprintf(stderr, "towerstream evaluate: %s\n", line.c_str());
                              });
    if (!logged.ok()) {
      return Fail(1, "the evaluation above is complete, but logging it to MLflow failed: " +
                         logged.message());
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
      "--data data/ --test-start 2020-09-16 --report report.json\n"
      "  towerstream evaluate --snapshot snapshots/ --data data/ --mlflow-uri "
      "http://127.0.0.1:5000");
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
      ->check(Positive());
  cmd->add_option("--baseline-days", args->baseline_days,
                  "Days before the test window whose best sellers make the popularity baseline "
                  "(and the trending part of buy again, then trending)")
      ->capture_default_str()
      ->check(Positive());
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
      ->check(Positive())
      ->type_name("N");
  cmd->add_option("--device", args->device, "Where to score: cpu, cuda[:N] or auto")
      ->capture_default_str();
  const std::string tracking = "MLflow tracking";
  cmd->add_option("--mlflow-uri", args->mlflow_uri,
                  "MLflow tracking server (http://HOST:PORT[/PREFIX]): the figures go as metrics "
                  "(test_map_at_12, test_recall_at_12, baseline_popularity_map_at_12, ..., "
                  "online_* with --online) to the run that trained the snapshot, at its training "
                  "step, and the report (JSON and text), the charts and the snapshot's "
                  "manifest.json as its artifacts (evaluation/<snapshot id>/, snapshot/<snapshot "
                  "id>/). A snapshot with no run gets a new run in --mlflow-experiment. The "
                  "server must proxy artifacts (`mlflow server`'s default since 2.0)")
      ->group(tracking)
      ->type_name("URI");
  cmd->add_option("--mlflow-experiment", args->mlflow_experiment,
                  "Experiment of the run created when the snapshot has none")
      ->capture_default_str()
      ->group(tracking)
      ->type_name("NAME");
  cmd->add_flag("--mlflow-log-snapshot", args->mlflow_log_snapshot,
                "Also upload every file of the snapshot as artifacts of the run (at Kaggle's "
                "size about a GB)")
      ->group(tracking);
  cmd->add_flag("-q,--quiet", args->quiet, "No progress bar");
  cmd->callback([args, exit_code] { *exit_code = RunEvaluate(*args); });
}

}  // namespace towerstream::cli
