// Fuzzes the typed readers of the H&M files (common/hm) and `inspect`: each input is a whole
// file, read as articles, customers and transactions (the header decides which one gets past it).
// Every row accepted must hold valid values and survive being written out and read back; strict
// mode must stop exactly at the first rejected row; inspect must report, never fail.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/csv/csv_reader.h"
#include "common/csv/csv_writer.h"
#include "common/hm/hm_reader.h"
#include "common/hm/inspect.h"
#include "common/hm/records.h"
#include "fuzz/fuzz_support.h"

namespace towerstream::fuzz {
namespace {

// Every number printed so that reading it back gives the same value.
std::string Exact(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.17g", value);
  return text;
}

void AppendOptional(std::string* row, const std::optional<float>& value) {
  if (value) *row += Exact(*value);
}

std::string Row(const hm::Article& a) {
  std::string row = hm::FormatArticleId(a.article_id) + "," + std::to_string(a.product_code);
  const auto text = [&](const std::string& s) {
    row += ',';
    csv::AppendField(&row, s);
  };
  const auto number = [&](int32_t n) { row += "," + std::to_string(n); };
  text(a.prod_name);
  number(a.product_type_no);
  text(a.product_type_name);
  text(a.product_group_name);
  number(a.graphical_appearance_no);
  text(a.graphical_appearance_name);
  number(a.colour_group_code);
  text(a.colour_group_name);
  number(a.perceived_colour_value_id);
  text(a.perceived_colour_value_name);
  number(a.perceived_colour_master_id);
  text(a.perceived_colour_master_name);
  number(a.department_no);
  text(a.department_name);
  text(a.index_code);
  text(a.index_name);
  number(a.index_group_no);
  text(a.index_group_name);
  number(a.section_no);
  text(a.section_name);
  number(a.garment_group_no);
  text(a.garment_group_name);
  text(a.detail_desc);
  return row;
}

std::string Row(const hm::Customer& c) {
  std::string row = c.customer_id + ",";
  AppendOptional(&row, c.fn);
  row += ',';
  AppendOptional(&row, c.active);
  row += ',';
  if (c.club_member_status) csv::AppendField(&row, *c.club_member_status);
  row += ',';
  if (c.fashion_news_frequency) row += hm::FashionNewsName(*c.fashion_news_frequency);
  row += ',';
  if (c.age) row += std::to_string(*c.age);
  row += ',';
  csv::AppendField(&row, c.postal_code);
  return row;
}

std::string Row(const hm::Transaction& t) {
  return t.t_dat.ToString() + "," + t.customer_id + "," + hm::FormatArticleId(t.article_id) + "," +
         Exact(t.price) + "," + std::to_string(t.sales_channel_id);
}

void CheckValid(const hm::Article& a) {
  Check(a.article_id >= 0 && a.article_id <= 9'999'999'999, "article id out of range");
}
void CheckValid(const hm::Customer& c) {
  Check(hm::IsValidCustomerId(c.customer_id), "invalid customer id accepted");
  Check(!c.age || (*c.age >= 0 && *c.age <= 150), "age out of range accepted");
  Check(!c.fn || std::isfinite(*c.fn), "non-finite FN accepted");
  Check(!c.club_member_status || !c.club_member_status->empty(), "empty club status kept");
}
void CheckValid(const hm::Transaction& t) {
  Check(hm::IsValidCustomerId(t.customer_id), "invalid customer id accepted");
  Check(std::isfinite(t.price) && t.price > 0, "price not finite and > 0 accepted");
  Check(t.sales_channel_id == 1 || t.sales_channel_id == 2, "bad sales channel accepted");
}

template <typename Record>
std::unique_ptr<hm::RecordReader<Record>> Open(std::string data, const hm::ReaderOptions& options) {
  Result<std::unique_ptr<csv::Reader>> csv =
      csv::Reader::FromString(std::move(data), "fuzz.csv", options.csv);
  Check(csv.ok(), "valid csv options rejected");
  Result<std::unique_ptr<hm::RecordReader<Record>>> reader =
      hm::RecordReader<Record>::FromCsv(std::move(*csv), options);
  if (!reader.ok()) {
    Check(reader.status().code() == StatusCode::kInvalidArgument,
          "a bad header is InvalidArgument: " + reader.status().ToString());
    return nullptr;
  }
  return std::move(*reader);
}

// Reads every good row; checks the counts and the rows.
template <typename Record>
void ReadAs(std::string_view data, std::string_view header) {
  hm::ReaderOptions options;
  options.csv.buffer_size = 64;  // rows cross refills
  options.max_errors_kept = 3;
  std::unique_ptr<hm::RecordReader<Record>> reader = Open<Record>(std::string(data), options);
  if (reader == nullptr) return;
  std::vector<Record> good;
  Record record;
  for (;;) {
    Result<bool> more = reader->Next(&record);
    Check(more.ok(), "a string source cannot fail: " + more.status().ToString());
    if (!*more) break;
    CheckValid(record);
    good.push_back(record);
  }
  const hm::LoadStats& stats = reader->stats();
  Check(stats.rows_read == stats.rows_ok + stats.rows_rejected, "rows do not add up");
  Check(stats.rows_ok == static_cast<int64_t>(good.size()), "rows_ok is not the rows returned");
  Check(stats.errors.size() ==
            std::min<size_t>(options.max_errors_kept, static_cast<size_t>(stats.rows_rejected)),
        "errors kept is not min(rejected, max_errors_kept)");
  for (const hm::RowError& error : stats.errors) {
    Check(error.ToStatus().code() == StatusCode::kInvalidArgument, "a row error is not invalid");
  }

  // Strict mode returns the same rows up to the first rejection, then that rejection.
  hm::ReaderOptions strict = options;
  strict.strict = true;
  std::unique_ptr<hm::RecordReader<Record>> strict_reader = Open<Record>(std::string(data), strict);
  Check(strict_reader != nullptr, "strict mode rejected a header the other accepted");
  size_t returned = 0;
  for (;;) {
    Result<bool> more = strict_reader->Next(&record);
    if (!more.ok()) {
      Check(stats.rows_rejected > 0, "strict mode failed where no row was rejected");
      Check(more.status().message() == stats.errors.front().ToString(),
            "strict mode's error is not the first rejection");
      break;
    }
    if (!*more) {
      Check(stats.rows_rejected == 0, "strict mode read past a rejected row");
      break;
    }
    Check(returned < good.size() && record == good[returned], "strict mode read another row");
    ++returned;
  }

  // What was read, written back with the writers' quoting, reads back the same.
  std::string file(header);
  for (const Record& r : good) file += "\n" + Row(r);
  std::unique_ptr<hm::RecordReader<Record>> again = Open<Record>(file, options);
  Check(again != nullptr, "the header written back is rejected");
  for (const Record& r : good) {
    Result<bool> more = again->Next(&record);
    Check(more.ok() && *more, "a row written back is rejected: " + Row(r));
    Check(record == r, "a row written back reads differently: " + Row(r));
  }
  Result<bool> end = again->Next(&record);
  Check(end.ok() && !*end, "rows written back read as more rows");
}

std::FILE* NullOutput() {
  static std::FILE* const null = std::fopen("/dev/null", "w");
  return null;
}

}  // namespace
}  // namespace towerstream::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace towerstream;
  const std::string_view text = fuzz::AsText(data, size);
  fuzz::ReadAs<hm::Article>(text, hm::kArticlesHeader);
  fuzz::ReadAs<hm::Customer>(text, hm::kCustomersHeader);
  fuzz::ReadAs<hm::Transaction>(text, hm::kTransactionsHeader);

  // inspect, on the input as a file: a bad file is a report, not an error.
  static const std::string path = (fuzz::ScratchDir() / "fuzz.csv").string();
  fuzz::WriteFile(path, text);
  hm::InspectOptions options;
  Result<hm::InspectReport> report = hm::Inspect({path}, options);
  fuzz::Check(report.ok(), "inspect of an existing file failed: " + report.status().ToString());
  hm::PrintReport(*report, fuzz::NullOutput());
  return 0;
}
