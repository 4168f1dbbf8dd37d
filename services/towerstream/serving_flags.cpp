// The snapshot and data flags of `recommend` and `serve`.
#include "services/towerstream/serving_flags.h"

#include "common/base/date.h"

namespace towerstream::cli {

void AddQuerySourceFlags(CLI::App* cmd, QuerySourceFlags* flags, std::string_view snapshot_help) {
  cmd->add_option("--snapshot", flags->snapshot, std::string(snapshot_help))
      ->required()
      ->check(CLI::ExistingPath)
      ->type_name("PATH");
  cmd->add_option("--data", flags->data,
                  "Folder with the H&M CSV files (customer features and purchase histories)")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->type_name("DIR");
  cmd->add_option("--as-of", flags->as_of,
                  "Use only purchases before this day (default: all of them)")
      ->type_name("YYYY-MM-DD");
}

Result<serving::CustomerHistoryOptions> HistoryOptionsFrom(const QuerySourceFlags& flags) {
  serving::CustomerHistoryOptions options;
  options.data_dir = flags.data;
  if (!flags.as_of.empty()) {
    Result<Date> as_of = Date::Parse(flags.as_of);
    if (!as_of.ok()) return Status::InvalidArgument("--as-of: " + as_of.status().message());
    options.as_of = *as_of;
  }
  return options;
}

}  // namespace towerstream::cli
