// Data folder scanning: one file per H&M kind, recognised by its header.
#include "common/replay/data_files.h"

#include <algorithm>
#include <system_error>
#include <vector>

#include "common/hm/hm_reader.h"

namespace towerstream::replay {

Status DataFiles::Missing(std::string_view command, std::string_view kind,
                          const std::filesystem::path& dir) const {
  std::string message = std::string(command) + ": no " + std::string(kind) +
                        " file (by its header) in " + dir.string();
  if (unrecognised.empty()) {
    message += " (no *.csv there)";
  } else {
    message += "; not recognised:";
    for (const std::string& why : unrecognised) message += "\n  " + why;
  }
  return Status::NotFound(std::move(message));
}

Result<DataFiles> FindDataFiles(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  if (error) {
    return Status::IoError("data folder '" + dir.string() + "': " + error.message());
  }
  std::vector<std::filesystem::path> csvs;
  for (; it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (error) return Status::IoError("data folder '" + dir.string() + "': " + error.message());
    if (it->path().extension() == ".csv" && it->is_regular_file(error)) csvs.push_back(it->path());
  }
  // Sorted, so that the error about two files of one kind names them in a stable order.
  std::sort(csvs.begin(), csvs.end());
  DataFiles files;
  for (const std::filesystem::path& path : csvs) {
    Result<hm::FileKind> kind = hm::DetectFileKind(path.string());
    if (!kind.ok()) {  // unreadable, empty, or some other CSV such as sample_submission.csv
      files.unrecognised.push_back(kind.status().message());
      continue;
    }
    std::string* slot = *kind == hm::FileKind::kArticles    ? &files.articles
                        : *kind == hm::FileKind::kCustomers ? &files.customers
                                                            : &files.transactions;
    if (!slot->empty()) {
      return Status::InvalidArgument("data folder '" + dir.string() + "' has two " +
                                     std::string(hm::FileKindName(*kind)) + " files: " + *slot +
                                     " and " + path.string() + "; keep one");
    }
    *slot = path.string();
  }
  return files;
}

}  // namespace towerstream::replay
