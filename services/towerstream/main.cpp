// towerstream: one binary, one subcommand per tool or service (docs/design.md §13).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "services/towerstream/cli_support.h"
#include "services/towerstream/commands.h"

int main(int argc, char** argv) {
  CLI::App app{
      "towerstream: train a two-tower retrieval model continuously from a stream of purchases.\n"
      "Run `towerstream SUBCOMMAND --help` for the options of each subcommand."};
  app.require_subcommand(1);
  int exit_code = 0;
  towerstream::cli::AddGenerateCommand(app, &exit_code);
  towerstream::cli::AddInspectCommand(app, &exit_code);
  towerstream::cli::AddReplayCommand(app, &exit_code);
  towerstream::cli::AddIngestCommand(app, &exit_code);
  towerstream::cli::AddTrainerCommand(app, &exit_code);
  towerstream::cli::AddTrainCommand(app, &exit_code);
  towerstream::cli::AddSnapshotCommand(app, &exit_code);
  towerstream::cli::AddEvaluateCommand(app, &exit_code);
  towerstream::cli::AddRecommendCommand(app, &exit_code);
  towerstream::cli::AddServeCommand(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Every usage error exits 2 with the subcommand's prefix, not CLI11's 104-114.
    return towerstream::cli::HandleParseError(app, e, argc > 1 ? argv[1] : nullptr);
  } catch (const std::exception& e) {
    // Libraries report expected errors as Status; anything thrown here is a bug or an
    // unexpected failure of a third-party library.
    std::fprintf(stderr, "towerstream: unexpected error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
