#include "common/evaluation/plots.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/plot/line_chart.h"
#include "common/trainer/training_session.h"

namespace towerstream::evaluation {
namespace {

Status WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::IoError("cannot write " + path.string());
  return Status::Ok();
}

}  // namespace

Result<std::vector<TrainingLogRow>> ReadTrainingLog(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("no training log " + path.string());
  std::vector<TrainingLogRow> rows;
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (number == 1 || line.empty()) continue;  // the header
    TrainingLogRow r;
    long long step = 0, events = 0;
    if (std::sscanf(line.c_str(), "%lf,%lld,%lld,%lf,%lf,%lf,%lf", &r.unix_time, &step, &events,
                    &r.loss, &r.recall_at_12, &r.recall_at_100, &r.examples_per_second) != 7) {
      return Status::Corruption(path.string() + ":" + std::to_string(number) +
                                ": expected 7 comma-separated numbers, got '" + line + "'");
    }
    r.step = step;
    r.events_trained = events;
    rows.push_back(r);
  }
  return rows;
}

Result<std::vector<std::string>> WritePlots(const EvaluationReport& report,
                                            const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return Status::IoError("cannot create " + dir.string() + ": " + error.message());
  std::vector<std::string> written;

  plot::LineChart recall;
  recall.title = "Recall@k on " + report.test_start.ToString() + " .. " +
                 (report.test_end + (-1)).ToString() + " (" +
                 std::to_string(report.model.customers) + " customers)";
  recall.x_label = "k (articles recommended)";
  recall.y_label = "recall@k";
  for (const auto& [name, metrics] : {std::pair{"two-tower model", &report.model},
                                      {"popularity", &report.popularity},
                                      {"buy again, then trending", &report.repurchase}}) {
    plot::Series s{name, {}};
    for (size_t k = 0; k < metrics->recall_curve.size(); ++k) {
      s.points.emplace_back(static_cast<double>(k + 1), metrics->recall_curve[k]);
    }
    recall.series.push_back(std::move(s));
  }
  TS_RETURN_IF_ERROR(WriteFile(dir / "recall_at_k.svg", plot::RenderSvg(recall)));
  written.push_back((dir / "recall_at_k.svg").string());

  const std::filesystem::path log =
      std::filesystem::path(report.snapshot_dir).parent_path() / trainer::kTrainingLogFile;
  if (!std::filesystem::exists(log)) {
    written.push_back("no training charts: " + log.string() + " does not exist");
    return written;
  }
  TS_ASSIGN_OR_RETURN(const std::vector<TrainingLogRow> rows, ReadTrainingLog(log));
  plot::LineChart loss{.title = "Training loss",
                       .x_label = "examples trained",
                       .y_label = "loss (moving average)",
                       .series = {{"loss", {}}}};
  loss.y_from_zero = false;
  plot::LineChart progressive{.title = "Progressive recall (scored before training)",
                              .x_label = "examples trained",
                              .y_label = "recall",
                              .series = {{"recall@12", {}}, {"recall@100", {}}}};
  for (const TrainingLogRow& r : rows) {
    const auto x = static_cast<double>(r.events_trained);
    loss.series[0].points.emplace_back(x, r.loss);
    progressive.series[0].points.emplace_back(x, r.recall_at_12);
    progressive.series[1].points.emplace_back(x, r.recall_at_100);
  }
  TS_RETURN_IF_ERROR(WriteFile(dir / "training_loss.svg", plot::RenderSvg(loss)));
  TS_RETURN_IF_ERROR(WriteFile(dir / "training_recall.svg", plot::RenderSvg(progressive)));
  written.push_back((dir / "training_loss.svg").string());
  written.push_back((dir / "training_recall.svg").string());
  return written;
}

}  // namespace towerstream::evaluation
