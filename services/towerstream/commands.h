// Subcommand registration for the towerstream binary. Each Add*Command adds one subcommand
// to `app` with its options and a callback that runs it; the callback stores the process exit
// status in *exit_code (0 success, 1 failure, 2 usage error) instead of exiting, so main owns
// the process lifetime.
#pragma once

#include <CLI/CLI.hpp>

namespace towerstream::cli {

void AddGenerateCommand(CLI::App& app, int* exit_code);
void AddInspectCommand(CLI::App& app, int* exit_code);
void AddReplayCommand(CLI::App& app, int* exit_code);
void AddIngestCommand(CLI::App& app, int* exit_code);
void AddTrainerCommand(CLI::App& app, int* exit_code);
void AddTrainCommand(CLI::App& app, int* exit_code);
void AddSnapshotCommand(CLI::App& app, int* exit_code);
void AddEvaluateCommand(CLI::App& app, int* exit_code);
void AddRecommendCommand(CLI::App& app, int* exit_code);
void AddServeCommand(CLI::App& app, int* exit_code);

}  // namespace towerstream::cli
