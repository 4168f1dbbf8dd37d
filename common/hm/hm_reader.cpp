// Header checks, row parsing and validation for the H&M CSV readers.
#include "common/hm/hm_reader.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <span>
#include <utility>

namespace towerstream::hm {
namespace {

using Fields = std::span<const std::string_view>;

// The unnamed first column of a pandas re-save: empty, or "Unnamed: 0" after a second one.
bool IsIndexColumnName(std::string_view name) { return name.empty() || name == "Unnamed: 0"; }

constexpr int kMinAge = 0;
constexpr int kMaxAge = 150;

// Why a row was rejected. `reason` is static text, so a good row allocates nothing.
struct FieldError {
  int column = -1;
  std::string_view reason;

  bool Set(int c, std::string_view r) {
    column = c;
    reason = r;
    return false;
  }
};

// The name of column `index` of a comma-separated header.
std::string_view ColumnName(std::string_view header, int index) {
  for (int i = 0; i < index; ++i) {
    const size_t comma = header.find(',');
    if (comma == std::string_view::npos) return {};
    header.remove_prefix(comma + 1);
  }
  return header.substr(0, header.find(','));
}

// Whether `fields` is `header`, optionally after an unnamed index column (`*index_column`).
bool HeaderMatches(Fields fields, std::string_view header, int columns, bool* index_column) {
  *index_column = fields.size() == static_cast<size_t>(columns) + 1 && IsIndexColumnName(fields[0]);
  const size_t offset = *index_column ? 1 : 0;
  if (fields.size() != static_cast<size_t>(columns) + offset) return false;
  for (int i = 0; i < columns; ++i) {
    if (fields[offset + static_cast<size_t>(i)] != ColumnName(header, i)) return false;
  }
  return true;
}

std::string JoinFields(Fields fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out += ',';
    out += fields[i];
  }
  return out;
}

// Integers, also as pandas writes them after a column held a missing value ("1010016.0").
bool ParseIntegral(std::string_view text, int64_t* out) {
  const char* const end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  if (ec != std::errc() || (ptr != end && *ptr != '.')) return false;
  if (ptr == end) return true;
  for (++ptr; ptr < end; ++ptr) {
    if (*ptr != '0') return false;
  }
  return true;
}

template <typename T>
bool ParseFloat(std::string_view text, T* out) {
  const char* const end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end && std::isfinite(*out);
}

bool ParseInt32Column(Fields f, int column, int32_t* out, FieldError* error) {
  int64_t value;
  if (!ParseIntegral(f[column], &value)) return error->Set(column, "not an integer");
  if (value < std::numeric_limits<int32_t>::min() || value > std::numeric_limits<int32_t>::max()) {
    return error->Set(column, "out of the 32-bit integer range");
  }
  *out = static_cast<int32_t>(value);
  return true;
}

bool ParseArticleIdColumn(Fields f, int column, ArticleId* out, FieldError* error) {
  Result<ArticleId> id = ParseArticleId(f[column]);
  if (!id.ok()) return error->Set(column, "not an article id of 1 to 10 digits");
  *out = *id;
  return true;
}

bool ParseCustomerIdColumn(Fields f, int column, std::string* out, FieldError* error) {
  if (f[column].empty()) return error->Set(column, "empty customer_id");
  if (!IsValidCustomerId(f[column])) {
    return error->Set(column, "not a customer id of 64 lowercase hex characters");
  }
  out->assign(f[column]);
  return true;
}

// Empty means unknown; anything else must be a finite number ("1", "1.0").
bool ParseOptionalFloatColumn(Fields f, int column, std::optional<float>* out, FieldError* error) {
  if (f[column].empty()) {
    out->reset();
    return true;
  }
  float value;
  if (!ParseFloat(f[column], &value)) return error->Set(column, "not a number");
  *out = value;
  return true;
}

// Reuses the string's storage when the previous row also had a value.
void AssignOptional(std::string_view text, std::optional<std::string>* out) {
  if (text.empty()) {
    out->reset();
  } else if (out->has_value()) {
    (*out)->assign(text);
  } else {
    out->emplace(text);
  }
}

template <typename Record>
struct Schema;

template <>
struct Schema<Article> {
  static constexpr std::string_view kHeader = kArticlesHeader;
  static constexpr int kColumns = kArticleColumns;

  static constexpr std::array<std::pair<int, int32_t Article::*>, 9> kInts = {{
      {3, &Article::product_type_no},
      {6, &Article::graphical_appearance_no},
      {8, &Article::colour_group_code},
      {10, &Article::perceived_colour_value_id},
      {12, &Article::perceived_colour_master_id},
      {14, &Article::department_no},
      {18, &Article::index_group_no},
      {20, &Article::section_no},
      {22, &Article::garment_group_no},
  }};
  static constexpr std::array<std::pair<int, std::string Article::*>, 14> kStrings = {{
      {2, &Article::prod_name},
      {4, &Article::product_type_name},
      {5, &Article::product_group_name},
      {7, &Article::graphical_appearance_name},
      {9, &Article::colour_group_name},
      {11, &Article::perceived_colour_value_name},
      {13, &Article::perceived_colour_master_name},
      {15, &Article::department_name},
      {16, &Article::index_code},
      {17, &Article::index_name},
      {19, &Article::index_group_name},
      {21, &Article::section_name},
      {23, &Article::garment_group_name},
      {24, &Article::detail_desc},
  }};

  static bool Parse(Fields f, Article* out, FieldError* error) {
    if (!ParseArticleIdColumn(f, 0, &out->article_id, error)) return false;
    if (!ParseIntegral(f[1], &out->product_code)) return error->Set(1, "not an integer");
    for (const auto& [column, member] : kInts) {
      if (!ParseInt32Column(f, column, &(out->*member), error)) return false;
    }
    for (const auto& [column, member] : kStrings) (out->*member).assign(f[column]);
    return true;
  }
};

template <>
struct Schema<Customer> {
  static constexpr std::string_view kHeader = kCustomersHeader;
  static constexpr int kColumns = kCustomerColumns;

  static bool Parse(Fields f, Customer* out, FieldError* error) {
    if (!ParseCustomerIdColumn(f, 0, &out->customer_id, error)) return false;
    if (!ParseOptionalFloatColumn(f, 1, &out->fn, error)) return false;
    if (!ParseOptionalFloatColumn(f, 2, &out->active, error)) return false;
    AssignOptional(f[3], &out->club_member_status);
    if (f[4].empty()) {
      out->fashion_news_frequency.reset();
    } else {
      Result<FashionNews> news = ParseFashionNews(f[4]);
      if (!news.ok()) return error->Set(4, "not one of NONE, None, Regularly, Monthly");
      out->fashion_news_frequency = *news;
    }
    if (f[5].empty()) {
      out->age.reset();
    } else {
      int64_t age;
      if (!ParseIntegral(f[5], &age)) return error->Set(5, "not a whole number");
      if (age < kMinAge || age > kMaxAge) return error->Set(5, "not an age from 0 to 150");
      out->age = static_cast<int32_t>(age);
    }
    out->postal_code.assign(f[6]);
    return true;
  }
};

template <>
struct Schema<Transaction> {
  static constexpr std::string_view kHeader = kTransactionsHeader;
  static constexpr int kColumns = kTransactionColumns;

  static bool Parse(Fields f, Transaction* out, FieldError* error) {
    Result<Date> date = Date::Parse(f[0]);
    if (!date.ok()) return error->Set(0, "not a date of the form YYYY-MM-DD");
    out->t_dat = *date;
    if (!ParseCustomerIdColumn(f, 1, &out->customer_id, error)) return false;
    if (!ParseArticleIdColumn(f, 2, &out->article_id, error)) return false;
    if (!ParseFloat(f[3], &out->price)) return error->Set(3, "not a number");
    if (!(out->price > 0)) return error->Set(3, "not a price > 0");
    int64_t channel;
    if (!ParseIntegral(f[4], &channel)) return error->Set(4, "not an integer");
    if (channel != 1 && channel != 2) return error->Set(4, "not a sales channel (1 or 2)");
    out->sales_channel_id = static_cast<int32_t>(channel);
    return true;
  }
};

constexpr std::array<std::pair<FileKind, std::string_view>, 3> kKinds = {{
    {FileKind::kArticles, kArticlesHeader},
    {FileKind::kCustomers, kCustomersHeader},
    {FileKind::kTransactions, kTransactionsHeader},
}};

int ColumnCount(std::string_view header) {
  return static_cast<int>(std::count(header.begin(), header.end(), ',')) + 1;
}

// Reads the first record of `csv`, which must be a header.
Status ReadHeader(csv::Reader& csv) {
  Result<bool> more = csv.Next();
  if (!more.ok()) return more.status().WithContext("reading the header");
  if (!*more) return Status::InvalidArgument(csv.name() + ": empty file, expected a header");
  return Status::Ok();
}

}  // namespace

Status ReaderOptions::Validate() const { return csv.Validate(); }

std::string RowError::ToString() const {
  std::string out = file;
  out += ':';
  out += std::to_string(line);
  out += ": ";
  if (!column.empty()) {
    out += "column '";
    out += column;
    out += "': value '";
    out += value;
    out += "': ";
  } else if (!value.empty()) {
    out += "value '";
    out += value;
    out += "': ";
  }
  out += reason;
  return out;
}

Status RowError::ToStatus() const { return Status::InvalidArgument(ToString()); }

std::string_view FileKindName(FileKind kind) {
  switch (kind) {
    case FileKind::kArticles:
      return "articles";
    case FileKind::kCustomers:
      return "customers";
    case FileKind::kTransactions:
      return "transactions";
  }
  return "unknown";
}

Result<std::optional<FileKind>> ClassifyCsv(const std::string& path,
                                            const csv::ReaderOptions& options) {
  TS_ASSIGN_OR_RETURN(std::unique_ptr<csv::Reader> csv, csv::Reader::Open(path, options));
  TS_RETURN_IF_ERROR(ReadHeader(*csv));
  const Fields fields = csv->fields();
  for (const auto& [kind, header] : kKinds) {
    bool index_column;
    if (HeaderMatches(fields, header, ColumnCount(header), &index_column))
      return std::optional<FileKind>(kind);
  }
  // The same columns in another order: meant as an H&M file, but the readers take the order
  // of Kaggle's files, so say so rather than pass it over as some other CSV.
  std::vector<std::string_view> got(fields.begin(), fields.end());
  if (!got.empty() && IsIndexColumnName(got.front())) got.erase(got.begin());
  std::sort(got.begin(), got.end());
  for (const auto& [kind, header] : kKinds) {
    std::vector<std::string_view> want;
    for (int i = 0; i < ColumnCount(header); ++i) want.push_back(ColumnName(header, i));
    std::sort(want.begin(), want.end());
    if (got == want) {
      return Status::InvalidArgument(path + ":" + std::to_string(csv->line()) +
                                     ": the columns of H&M " + std::string(FileKindName(kind)) +
                                     " in another order: '" + csv::Excerpt(JoinFields(fields)) +
                                     "'; the order must be '" + std::string(header) + "'");
    }
  }
  return std::optional<FileKind>();
}

Result<FileKind> DetectFileKind(const std::string& path, const csv::ReaderOptions& options) {
  TS_ASSIGN_OR_RETURN(const std::optional<FileKind> kind, ClassifyCsv(path, options));
  if (kind) return *kind;
  TS_ASSIGN_OR_RETURN(std::unique_ptr<csv::Reader> csv, csv::Reader::Open(path, options));
  TS_RETURN_IF_ERROR(ReadHeader(*csv));
  return Status::InvalidArgument(path + ":" + std::to_string(csv->line()) +
                                 ": header is not that of H&M articles, customers or "
                                 "transactions: '" +
                                 csv::Excerpt(JoinFields(csv->fields())) + "'");
}

template <typename Record>
Result<std::unique_ptr<RecordReader<Record>>> RecordReader<Record>::Open(
    const std::string& path, const ReaderOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  TS_ASSIGN_OR_RETURN(std::unique_ptr<csv::Reader> csv, csv::Reader::Open(path, options.csv));
  return FromCsv(std::move(csv), options);
}

template <typename Record>
Result<std::unique_ptr<RecordReader<Record>>> RecordReader<Record>::FromCsv(
    std::unique_ptr<csv::Reader> csv, const ReaderOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  TS_RETURN_IF_ERROR(ReadHeader(*csv));
  bool index_column;
  if (!HeaderMatches(csv->fields(), Schema<Record>::kHeader, Schema<Record>::kColumns,
                     &index_column)) {
    return Status::InvalidArgument(csv->name() + ":" + std::to_string(csv->line()) + ": header '" +
                                   csv::Excerpt(JoinFields(csv->fields())) + "' is not '" +
                                   std::string(Schema<Record>::kHeader) +
                                   "' (optionally after an unnamed index column)");
  }
  return std::unique_ptr<RecordReader>(new RecordReader(std::move(csv), options, index_column));
}

template <typename Record>
RecordReader<Record>::RecordReader(std::unique_ptr<csv::Reader> csv, const ReaderOptions& options,
                                   bool index_column)
    : csv_(std::move(csv)), options_(options), index_column_(index_column) {}

template <typename Record>
Status RecordReader<Record>::Rejected(RowError error) {
  ++stats_.rows_rejected;
  Status status = options_.strict ? error.ToStatus() : Status::Ok();
  if (stats_.errors.size() < options_.max_errors_kept) stats_.errors.push_back(std::move(error));
  return status;
}

template <typename Record>
Result<bool> RecordReader<Record>::Next(Record* record) {
  const size_t offset = index_column_ ? 1 : 0;
  const size_t columns = static_cast<size_t>(Schema<Record>::kColumns) + offset;
  // Column names as the file has them: the index column, then the Kaggle header.
  auto column_name = [&](int field) -> std::string {
    if (field < 0 || static_cast<size_t>(field) >= columns) return {};
    if (static_cast<size_t>(field) < offset) return "(index)";
    return std::string(ColumnName(Schema<Record>::kHeader, field - static_cast<int>(offset)));
  };
  for (;;) {
    Result<bool> more = csv_->Next();
    if (!more.ok()) {
      if (more.status().code() != StatusCode::kInvalidArgument) return more.status();
      ++stats_.rows_read;
      const csv::ParseError& bad = csv_->last_error();
      TS_RETURN_IF_ERROR(
          Rejected({file(), bad.line, column_name(bad.field), bad.value, bad.reason}));
      continue;
    }
    if (!*more) return false;
    ++stats_.rows_read;
    Fields fields = csv_->fields();
    if (fields.size() != columns) {
      TS_RETURN_IF_ERROR(Rejected({file(), csv_->line(), "", "",
                                   "expected " + std::to_string(columns) + " columns, found " +
                                       std::to_string(fields.size())}));
      continue;
    }
    FieldError error;
    if (!Schema<Record>::Parse(fields.subspan(offset), record, &error)) {
      const int field = error.column + static_cast<int>(offset);
      TS_RETURN_IF_ERROR(
          Rejected({file(), csv_->line(), column_name(field),
                    csv::Excerpt(fields[static_cast<size_t>(field)]), std::string(error.reason)}));
      continue;
    }
    ++stats_.rows_ok;
    return true;
  }
}

template <typename Record>
Result<std::vector<Record>> ReadAll(const std::string& path, const ReaderOptions& options,
                                    LoadStats* stats) {
  TS_ASSIGN_OR_RETURN(auto reader, RecordReader<Record>::Open(path, options));
  std::vector<Record> records;
  Record record;
  for (;;) {
    TS_ASSIGN_OR_RETURN(const bool more, reader->Next(&record));
    if (!more) break;
    records.push_back(record);
  }
  if (stats != nullptr) *stats = reader->stats();
  return records;
}

template class RecordReader<Article>;
template class RecordReader<Customer>;
template class RecordReader<Transaction>;
template Result<std::vector<Article>> ReadAll(const std::string&, const ReaderOptions&, LoadStats*);
template Result<std::vector<Customer>> ReadAll(const std::string&, const ReaderOptions&,
                                               LoadStats*);
template Result<std::vector<Transaction>> ReadAll(const std::string&, const ReaderOptions&,
                                                  LoadStats*);

}  // namespace towerstream::hm
