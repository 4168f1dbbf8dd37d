// `towerstream generate` as a user runs it: options, exit codes, messages and files.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/datagen/generator.h"
#include "common/evaluation/best_possible.h"
#include "tests/datagen/dataset.h"

namespace towerstream::datagen {
namespace {

using testing::ReadFile;
using testing::ReadLines;
using testing::TempDir;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs the towerstream binary with `args` (shell words), capturing both streams.
CommandResult RunTowerstream(const TempDir& dir, const std::string& args) {
  const std::filesystem::path out = dir.path() / "stdout", err = dir.path() / "stderr";
  const std::string command =
      std::string(TOWERSTREAM_BINARY) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(command.c_str());
  CommandResult run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.out = ReadFile(out);
  run.err = ReadFile(err);
  return run;
}

TEST(GenerateCommandTest, HelpDescribesEveryOption) {
  TempDir dir;
  const CommandResult run = RunTowerstream(dir, "generate --help");
  EXPECT_EQ(run.exit_code, 0);
  for (const char* option :
       {"--out", "--customers", "--articles", "--transactions", "--seed", "--start-date", "--days",
        "--full-scale", "--no-best-possible", "--quiet"}) {
    EXPECT_NE(run.out.find(option), std::string::npos) << option << " missing from:\n" << run.out;
  }
}

TEST(GenerateCommandTest, WritesTheFilesAndPrintsASummary) {
  TempDir dir;
  const std::filesystem::path data = dir.path() / "data";
  const CommandResult run =
      RunTowerstream(dir, "generate --out " + data.string() +
                              " --customers 300 --articles 100 --transactions 2000 "
                              "--seed 9 --start-date 2019-01-01 --days 20");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  for (std::string_view file : {kArticlesFile, kCustomersFile, kTransactionsFile}) {
    EXPECT_NE(run.out.find(file), std::string::npos) << run.out;
  }
  EXPECT_NE(run.out.find("2,000 rows"), std::string::npos) << run.out;
  const std::vector<std::string> lines = ReadLines(data / kTransactionsFile);
  ASSERT_EQ(lines.size(), 2001u);
  EXPECT_EQ(lines[1].substr(0, 10), "2019-01-01");
  EXPECT_EQ(lines.back().substr(0, 10), "2019-01-20");
}

TEST(GenerateCommandTest, WritesTheBestPossibleFiguresOfTheLastWeekDeterministically) {
  TempDir dir;
  const std::string args =
      " --customers 2000 --articles 500 --transactions 40000 --seed 4 --days 60 "
      "--start-date 2019-01-01";
  const std::filesystem::path a = dir.path() / "a", b = dir.path() / "b";
  const CommandResult run = RunTowerstream(dir, "generate --out " + a.string() + args);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("ground-truth/best_possible.json"), std::string::npos) << run.out;
  ASSERT_EQ(RunTowerstream(dir, "generate -q --out " + b.string() + args).exit_code, 0);

  const std::filesystem::path file = a / "ground-truth" / "best_possible.json";
  ASSERT_TRUE(std::filesystem::exists(file));
  EXPECT_EQ(ReadFile(file), ReadFile(b / "ground-truth" / "best_possible.json"));
  Result<evaluation::BestPossible> best = evaluation::LoadBestPossible(a);
  ASSERT_TRUE(best.ok()) << best.status().ToString();
  // The last 7 of the 60 days from 2019-01-01, the week `evaluate` holds out by default.
  EXPECT_EQ(best->test_start.ToString(), "2019-02-23");
  EXPECT_EQ(best->test_end.ToString(), "2019-03-02");
  EXPECT_GT(best->customers, 0);
  EXPECT_GE(best->purchases, best->customers);
  EXPECT_EQ(best->catalogue_size, 500);
  for (double x :
       {best->metrics.map_at_12, best->metrics.recall_at_12, best->metrics.recall_at_100}) {
    EXPECT_GT(x, 0.0);
    EXPECT_LE(x, 1.0);
  }
  EXPECT_LE(best->metrics.recall_at_12, best->metrics.recall_at_100);
  ASSERT_EQ(best->segments.size(), 3u);
  EXPECT_EQ(best->segments[0].metrics.customers + best->segments[1].metrics.customers,
            best->customers);
}

TEST(GenerateCommandTest, NoBestPossibleSkipsTheGroundTruth) {
  TempDir dir;
  const std::filesystem::path data = dir.path() / "data";
  const CommandResult run =
      RunTowerstream(dir, "generate --no-best-possible --out " + data.string() +
                              " --customers 100 --articles 50 --transactions 1000");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(std::filesystem::exists(data / kTransactionsFile));
  EXPECT_FALSE(std::filesystem::exists(data / "ground-truth"));
  EXPECT_EQ(run.out.find("best_possible"), std::string::npos) << run.out;
}

TEST(GenerateCommandTest, QuietPrintsNothing) {
  TempDir dir;
  const CommandResult run =
      RunTowerstream(dir, "generate -q --out " + (dir.path() / "data").string() +
                              " --customers 10 --articles 10 --transactions 10");
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(run.err, "");
}

TEST(GenerateCommandTest, ReportsErrorsNamingTheCommand) {
  TempDir dir;
  const std::filesystem::path file = dir.path() / "a-file";
  std::ofstream(file) << "x";
  struct Case {
    std::string args;
    int exit_code;
    std::string message;
  };
  const Case cases[] = {
      {"--customers 0", 2, "customers must be in [1, "},
      {"--days 0", 2, "days must be in [1, "},
      {"--start-date 2020-13-01", 2, "--start-date: '2020-13-01' is not a date"},
      {"--seed 1 --out " + file.string(), 1, file.string()},
  };
  for (const Case& c : cases) {
    const std::string args = c.args.find("--out") == std::string::npos
                                 ? c.args + " --out " + (dir.path() / "data").string()
                                 : c.args;
    const CommandResult run = RunTowerstream(dir, "generate " + args);
    EXPECT_EQ(run.exit_code, c.exit_code) << args << "\n" << run.err;
    EXPECT_EQ(run.err.rfind("towerstream generate: ", 0), 0u) << args << "\n" << run.err;
    EXPECT_NE(run.err.find(c.message), std::string::npos) << args << "\n" << run.err;
  }
}

TEST(GenerateCommandTest, RejectsUsageErrors) {
  TempDir dir;
  const std::string out = " --out " + (dir.path() / "data").string();
  for (const std::string& args :
       {std::string("generate"), "generate --full-scale --customers 5" + out,
        "generate --customers many" + out}) {
    const CommandResult run = RunTowerstream(dir, args);
    EXPECT_NE(run.exit_code, 0) << args;
    EXPECT_FALSE(run.err.empty()) << args;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "data" / kTransactionsFile)) << args;
  }
}

}  // namespace
}  // namespace towerstream::datagen
