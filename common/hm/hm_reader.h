// Typed, validating readers of the three H&M Kaggle CSV files (articles, customers,
// transactions), in their raw and pandas re-saved forms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"
#include "common/csv/csv_reader.h"
#include "common/hm/records.h"

namespace towerstream::hm {

struct ReaderOptions {
  // true: the first bad row makes Next() return its error (for `--strict`); false: bad rows
  // are counted, the first few kept, and reading goes on.
  bool strict = false;
  // How many RowErrors LoadStats keeps; later ones are only counted.
  size_t max_errors_kept = 10;
  // Buffering and record size limit of the underlying CSV reader.
  csv::ReaderOptions csv;

  Status Validate() const;
};

// One rejected row: where it is, which column, the value, and why.
struct RowError {
  std::string file;
  int64_t line = 0;    // 1-based physical line where the row (or the CSV fault) is
  std::string column;  // column name; empty when the row as a whole is bad
  std::string value;   // the offending value, cut to ~80 bytes; may be empty
  std::string reason;  // e.g. "not a number"

  // "file:line: column 'price': value 'abc': not a number" (empty parts left out).
  std::string ToString() const;
  // InvalidArgument carrying ToString().
  Status ToStatus() const;
};

// Counts of one load. rows_read == rows_ok + rows_rejected; the header is not a row.
struct LoadStats {
  int64_t rows_read = 0;
  int64_t rows_ok = 0;
  int64_t rows_rejected = 0;
  std::vector<RowError> errors;  // the first ReaderOptions::max_errors_kept rejections
};

// Which of the three files a header belongs to.
enum class FileKind { kArticles, kCustomers, kTransactions };
std::string_view FileKindName(FileKind kind);  // "articles", "customers", "transactions"

// Reads the header of `path` and says which file it is (an extra leading unnamed index
// column is allowed). Fails when the header is none of the three.
Result<FileKind> DetectFileKind(const std::string& path, const csv::ReaderOptions& options = {});

// Like DetectFileKind, but tells a CSV file of some other kind (nullopt: e.g. Kaggle's
// sample_submission.csv, to be left alone) from one that should have been an H&M file and
// cannot be read as one (an error naming the file and why): unreadable, empty, or holding
// the columns of one of the three in another order.
Result<std::optional<FileKind>> ClassifyCsv(const std::string& path,
                                            const csv::ReaderOptions& options = {});

// Reads one file of `Record`s (Article, Customer or Transaction): checks the header against
// the Kaggle one (optionally preceded by the unnamed index column pandas writes, which is
// then skipped on every row) and parses, normalises and validates every row. Not
// thread-safe; owns its csv::Reader.
template <typename Record>
class RecordReader {
 public:
  // Opens `path` and checks its header.
  static Result<std::unique_ptr<RecordReader>> Open(const std::string& path,
                                                    const ReaderOptions& options = {});
  // Reads from an already opened CSV reader positioned at the header.
  static Result<std::unique_ptr<RecordReader>> FromCsv(std::unique_ptr<csv::Reader> csv,
                                                       const ReaderOptions& options = {});

  // Reads the next good row into `*record`, reusing its string storage. Returns false at the
  // end of the file. Bad rows are skipped and counted in stats(); in strict mode the first one
  // is returned as an InvalidArgument error instead. I/O errors are always returned.
  Result<bool> Next(Record* record);

  const LoadStats& stats() const { return stats_; }
  // Line on which the row last returned by Next() starts.
  int64_t line() const { return csv_->line(); }
  const std::string& file() const { return csv_->name(); }
  uint64_t bytes_read() const { return csv_->bytes_read(); }
  // Whether the file has pandas' extra leading unnamed index column.
  bool has_index_column() const { return index_column_; }

 private:
  RecordReader(std::unique_ptr<csv::Reader> csv, const ReaderOptions& options, bool index_column);
  // Counts a rejected row; returns its error in strict mode, OK otherwise.
  Status Rejected(RowError error);

  std::unique_ptr<csv::Reader> csv_;
  ReaderOptions options_;
  bool index_column_;
  LoadStats stats_;
};

using ArticleReader = RecordReader<Article>;
using CustomerReader = RecordReader<Customer>;
using TransactionReader = RecordReader<Transaction>;

// Reads a whole file into memory: for small files and tests (a full transactions file
// needs gigabytes this way; stream it with a RecordReader instead). `stats` may be null.
template <typename Record>
Result<std::vector<Record>> ReadAll(const std::string& path, const ReaderOptions& options = {},
                                    LoadStats* stats = nullptr);

}  // namespace towerstream::hm
