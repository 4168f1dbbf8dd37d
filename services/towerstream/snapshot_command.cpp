// `towerstream snapshot`: asks a running trainer for a durable snapshot (POST /snapshot).
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/admin/admin_server.h"
#include "services/towerstream/cli_support.h"
#include "services/towerstream/commands.h"

namespace towerstream::cli {
namespace {

struct SnapshotArgs {
  std::string trainer = "127.0.0.1:9404";
  std::string token;
  int timeout_s = 600;
};

int RunSnapshot(const SnapshotArgs& args) {
  Result<admin::AdminResponse> response = admin::HttpCall(
      args.trainer, "POST", "/snapshot", {}, args.token, std::chrono::seconds(args.timeout_s));
  if (!response.ok()) {
    std::fprintf(stderr,
                 "towerstream snapshot: %s (is a trainer running with --admin-address %s?)\n",
                 response.status().message().c_str(), args.trainer.c_str());
    return 1;
  }
  const nlohmann::json body =
      nlohmann::json::parse(response->body, nullptr, /*allow_exceptions=*/false);
  if (response->status != 200) {
    const std::string error =
        body.is_object() && body.contains("error") && body["error"].is_string()
            ? body["error"].get<std::string>()
            : response->body;
    std::fprintf(stderr, "towerstream snapshot: the trainer answered %d: %s\n", response->status,
                 error.c_str());
    return 1;
  }
  if (!body.is_object() || !body.contains("snapshot_id")) {
    std::fprintf(stderr, "towerstream snapshot: unexpected answer: %s\n", response->body.c_str());
    return 1;
  }
  std::printf("%s\n", body["snapshot_id"].get<std::string>().c_str());
  if (body.contains("path")) {
    std::fprintf(stderr, "towerstream snapshot: durable at %s (step %lld, %lld examples trained)\n",
                 body.value("path", "").c_str(), static_cast<long long>(body.value("step", 0LL)),
                 static_cast<long long>(body.value("events_trained", 0LL)));
  }
  return 0;
}

}  // namespace

void AddSnapshotCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<SnapshotArgs>();
  CLI::App* cmd = app.add_subcommand(
      "snapshot",
      "Ask a running `towerstream trainer` for a snapshot; prints its id once it is durable.");
  cmd->footer(
      "Exit status: 0 snapshot written (its id on stdout), 1 failed, 2 bad usage.\n"
      "Example:\n"
      "  towerstream snapshot --trainer 127.0.0.1:9404");
  cmd->add_option("--trainer", args->trainer, "The trainer's admin address HOST:PORT")
      ->capture_default_str()
      ->type_name("ADDR");
  cmd->add_option("--admin-token", args->token, "The trainer's --admin-token, if it has one")
      ->type_name("TOKEN");
  cmd->add_option("--timeout", args->timeout_s, "Seconds to wait for the snapshot")
      ->capture_default_str()
      ->check(Positive())
      ->type_name("S");
  cmd->callback([args, exit_code] { *exit_code = RunSnapshot(*args); });
}

}  // namespace towerstream::cli
