// Summaries of H&M files for `towerstream inspect`.
#include "common/hm/inspect.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "common/base/progress.h"

namespace towerstream::hm {
namespace {

namespace fs = std::filesystem;

// Ids seen in the articles and customers files of one inspection: what "known" means.
struct KnownIds {
  bool have_articles = false;
  bool have_customers = false;
  std::unordered_set<ArticleId> articles;
  std::unordered_set<std::string> customers;
};

struct Clock {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
};

// Reads every row of one file, handing each good record to `on_record`.
template <typename Record, typename OnRecord>
void ReadFile(const InspectOptions& options, FileReport* report, OnRecord on_record) {
  Clock clock;
  ReaderOptions reader_options;
  reader_options.strict = options.strict;
  reader_options.max_errors_kept = options.max_errors_kept;
  auto reader = RecordReader<Record>::Open(report->path, reader_options);
  if (!reader.ok()) {
    report->status = reader.status();
    return;
  }
  std::unique_ptr<ProgressBar> progress;
  // Small files load in a blink; a bar only helps on the big ones.
  constexpr uint64_t kProgressMinBytes = 64ull << 20;
  if (options.progress != nullptr && report->bytes >= kProgressMinBytes) {
    ProgressOptions progress_options;
    progress_options.label = fs::path(report->path).filename().string();
    progress_options.unit = "bytes";
    progress_options.out = options.progress;
    progress = std::make_unique<ProgressBar>(static_cast<int64_t>(report->bytes), progress_options);
  }
  uint64_t reported_bytes = 0;
  Record record;
  while (true) {
    Result<bool> more = (*reader)->Next(&record);
    if (!more.ok()) {
      report->status = more.status();
      break;
    }
    if (!*more) break;
    on_record(record);
    if (progress && (*reader)->stats().rows_read % 65536 == 0) {
      const uint64_t bytes = (*reader)->bytes_read();
      progress->Add(static_cast<int64_t>(bytes - reported_bytes));
      reported_bytes = bytes;
    }
  }
  if (progress) {
    progress->Add(static_cast<int64_t>((*reader)->bytes_read() - reported_bytes));
    progress->Finish();
  }
  report->stats = (*reader)->stats();
  report->seconds = clock.Seconds();
}

void InspectArticles(const InspectOptions& options, KnownIds* known, FileReport* report) {
  std::unordered_set<ArticleId> ids;
  ReadFile<Article>(options, report, [&](const Article& a) {
    ids.insert(a.article_id);
    known->articles.insert(a.article_id);
  });
  known->have_articles = true;
  report->distinct_ids = static_cast<int64_t>(ids.size());
}

void InspectCustomers(const InspectOptions& options, KnownIds* known, FileReport* report) {
  std::unordered_set<std::string> ids;
  ReadFile<Customer>(options, report, [&](const Customer& c) {
    ids.insert(c.customer_id);
    known->customers.insert(c.customer_id);
  });
  known->have_customers = true;
  report->distinct_ids = static_cast<int64_t>(ids.size());
}

void InspectTransactions(const InspectOptions& options, const KnownIds& known, FileReport* report) {
  std::unordered_set<std::string> customers;
  std::unordered_set<ArticleId> articles;
  int64_t article_known = 0;
  int64_t customer_known = 0;
  // Kaggle's file is sorted by day, so consecutive rows mostly share a customer: skip the
  // set lookups for a repeated id.
  std::string previous_customer;
  bool previous_customer_known = false;
  ReadFile<Transaction>(options, report, [&](const Transaction& t) {
    if (!report->first_date || t.t_dat < *report->first_date) report->first_date = t.t_dat;
    if (!report->last_date || t.t_dat > *report->last_date) report->last_date = t.t_dat;
    articles.insert(t.article_id);
    if (t.customer_id != previous_customer) {
      previous_customer = t.customer_id;
      customers.insert(t.customer_id);
      previous_customer_known = known.customers.contains(t.customer_id);
    }
    if (previous_customer_known) ++customer_known;
    if (known.articles.contains(t.article_id)) ++article_known;
  });
  report->distinct_ids = static_cast<int64_t>(customers.size());
  report->distinct_articles = static_cast<int64_t>(articles.size());
  if (known.have_articles) report->article_known = article_known;
  if (known.have_customers) report->customer_known = customer_known;
}

Result<std::vector<std::string>> ExpandPaths(const std::vector<std::string>& paths) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      TS_ASSIGN_OR_RETURN(std::vector<std::string> found, FindHmFiles(path));
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::exists(path, ec)) {
      files.push_back(path);
    } else {
      return Status::NotFound(path + ": no such file or directory");
    }
  }
  return files;
}

std::string Percent(int64_t part, int64_t whole) {
  if (whole == 0) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%",
                100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return buf;
}

}  // namespace

Status InspectOptions::Validate() const {
  if (max_errors_kept > 1000) {
    return Status::InvalidArgument("max_errors_kept " + std::to_string(max_errors_kept) +
                                   " is above 1000");
  }
  return Status::Ok();
}

int64_t InspectReport::rows_rejected() const {
  int64_t n = 0;
  for (const FileReport& f : files) n += f.stats.rows_rejected;
  return n;
}

bool InspectReport::all_ok() const {
  return std::all_of(files.begin(), files.end(), [](const FileReport& f) { return f.status.ok(); });
}

Result<std::vector<std::string>> FindHmFiles(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return Status::IoError(dir + ": cannot list directory: " + ec.message());
  for (const fs::directory_entry& entry : it) {
    if (entry.path().extension() != ".csv") continue;
    // A *.csv that cannot be read as one of the three (a directory, unreadable, empty, its
    // columns in another order) is listed, so that the report shows it with why; only a
    // readable CSV of some other kind (sample_submission.csv) is left out.
    const Result<std::optional<FileKind>> kind =
        entry.is_regular_file(ec) ? ClassifyCsv(entry.path().string())
                                  : Result<std::optional<FileKind>>(Status::InvalidArgument(
                                        entry.path().string() + ": not a regular file"));
    if (!kind.ok() || kind->has_value()) files.push_back(entry.path().string());
  }
  if (files.empty()) {
    return Status::NotFound(dir +
                            ": no .csv file with an articles, customers or transactions header");
  }
  std::sort(files.begin(), files.end());
  return files;
}

Result<InspectReport> Inspect(const std::vector<std::string>& paths,
                              const InspectOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  if (paths.empty()) return Status::InvalidArgument("no file or directory to inspect");
  TS_ASSIGN_OR_RETURN(std::vector<std::string> files, ExpandPaths(paths));

  InspectReport report;
  for (const std::string& file : files) {
    FileReport f;
    f.path = file;
    std::error_code ec;
    f.bytes = fs::file_size(file, ec);
    Result<FileKind> kind = DetectFileKind(file);
    if (!kind.ok()) {
      f.status = kind.status();
    } else {
      f.kind = *kind;
    }
    report.files.push_back(std::move(f));
  }
  // Entities first, so transactions can be checked against them; unreadable files first of all.
  std::stable_sort(report.files.begin(), report.files.end(),
                   [](const FileReport& a, const FileReport& b) {
                     if (a.status.ok() != b.status.ok()) return !a.status.ok();
                     return static_cast<int>(a.kind) < static_cast<int>(b.kind);
                   });

  KnownIds known;
  for (FileReport& f : report.files) {
    if (!f.status.ok()) continue;
    switch (f.kind) {
      case FileKind::kArticles:
        InspectArticles(options, &known, &f);
        break;
      case FileKind::kCustomers:
        InspectCustomers(options, &known, &f);
        break;
      case FileKind::kTransactions:
        InspectTransactions(options, known, &f);
        break;
    }
  }
  return report;
}

void PrintReport(const InspectReport& report, std::FILE* out) {
  for (const FileReport& f : report.files) {
    std::fprintf(out, "%s (%s, %s", f.path.c_str(), std::string(FileKindName(f.kind)).c_str(),
                 FormatBytes(static_cast<int64_t>(f.bytes)).c_str());
    if (f.seconds > 0) std::fprintf(out, ", read in %.2f s", f.seconds);
    std::fprintf(out, ")\n");
    if (!f.status.ok() && f.stats.rows_read == 0) {
      std::fprintf(out, "  error            %s\n\n", f.status.message().c_str());
      continue;
    }
    std::fprintf(out, "  rows read        %s\n", FormatCount(f.stats.rows_read).c_str());
    std::fprintf(out, "  rows rejected    %s", FormatCount(f.stats.rows_rejected).c_str());
    if (f.stats.rows_rejected > 0) {
      std::fprintf(out, " (%s)", Percent(f.stats.rows_rejected, f.stats.rows_read).c_str());
    }
    std::fprintf(out, "\n");
    for (const RowError& e : f.stats.errors) std::fprintf(out, "    %s\n", e.ToString().c_str());
    if (f.stats.rows_rejected > static_cast<int64_t>(f.stats.errors.size())) {
      std::fprintf(
          out, "    ... and %s more\n",
          FormatCount(f.stats.rows_rejected - static_cast<int64_t>(f.stats.errors.size())).c_str());
    }
    switch (f.kind) {
      case FileKind::kArticles:
        std::fprintf(out, "  distinct ids     %s articles\n", FormatCount(f.distinct_ids).c_str());
        break;
      case FileKind::kCustomers:
        std::fprintf(out, "  distinct ids     %s customers\n", FormatCount(f.distinct_ids).c_str());
        break;
      case FileKind::kTransactions:
        std::fprintf(out, "  distinct ids     %s customers, %s articles\n",
                     FormatCount(f.distinct_ids).c_str(), FormatCount(f.distinct_articles).c_str());
        if (f.first_date && f.last_date) {
          const int days = *f.last_date - *f.first_date + 1;
          std::fprintf(out, "  date range       %s .. %s (%d day%s)\n",
                       f.first_date->ToString().c_str(), f.last_date->ToString().c_str(), days,
                       days == 1 ? "" : "s");
        }
        std::fprintf(out, "  article known    %s\n",
                     f.article_known ? Percent(*f.article_known, f.stats.rows_ok).c_str()
                                     : "n/a (no articles file given)");
        std::fprintf(out, "  customer known   %s\n",
                     f.customer_known ? Percent(*f.customer_known, f.stats.rows_ok).c_str()
                                      : "n/a (no customers file given)");
        break;
    }
    if (!f.status.ok()) std::fprintf(out, "  stopped          %s\n", f.status.message().c_str());
    std::fprintf(out, "\n");
  }
}

}  // namespace towerstream::hm
