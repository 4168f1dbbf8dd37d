// `towerstream inspect`: load and validate H&M Kaggle files and print what they hold.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/hm/inspect.h"
#include "services/towerstream/cli_support.h"
#include "services/towerstream/commands.h"

namespace towerstream::cli {

void AddInspectCommand(CLI::App& app, int* exit_code) {
  struct Args {
    std::vector<std::string> paths;
    bool strict = false;
    size_t max_errors = 5;
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand(
      "inspect",
      "Load and validate H&M Kaggle files (articles.csv, customers.csv, transactions_train.csv) "
      "and print, per file: rows read, rows rejected with the first reasons (file:line), "
      "distinct ids, the date range, and for transactions the share whose article and customer "
      "are known.");
  cmd->add_option("paths", args->paths,
                  "Files, or directories whose *.csv files with a Kaggle header are inspected; "
                  "the kind of each file is told by its header")
      ->required();
  cmd->add_flag("--strict", args->strict,
                "Stop a file at its first bad row; exit non-zero if anything was rejected");
  cmd->add_option("--max-errors", args->max_errors, "Rejections listed per file")
      ->capture_default_str()
      ->check(InRange(0, 1000));
  cmd->add_flag("-q,--quiet", args->quiet, "No progress bars");
  cmd->callback([args, exit_code] {
    hm::InspectOptions options;
    options.strict = args->strict;
    options.max_errors_kept = args->max_errors;
    options.progress = args->quiet ? nullptr : stderr;
    Result<hm::InspectReport> report = hm::Inspect(args->paths, options);
    if (!report.ok()) {
      std::fprintf(stderr, "towerstream inspect: %s\n", report.status().message().c_str());
      *exit_code = 1;
      return;
    }
    hm::PrintReport(*report, stdout);
    const int64_t rejected = report->rows_rejected();
    if (!report->all_ok()) {
      std::fprintf(stderr, "towerstream inspect: not every file could be read (see above)\n");
      *exit_code = 1;
    } else if (args->strict && rejected > 0) {
      std::fprintf(stderr, "towerstream inspect: %lld row(s) rejected in --strict mode\n",
                   static_cast<long long>(rejected));
      *exit_code = 1;
    } else {
      *exit_code = 0;
    }
  });
}

}  // namespace towerstream::cli
