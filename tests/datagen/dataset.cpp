// Generating and loading datasets for the datagen tests.
#include "tests/datagen/dataset.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>

#include "common/base/date.h"
#include "common/csv/csv_reader.h"

namespace towerstream::datagen::testing {
namespace {

Result<std::vector<std::vector<std::string>>> ReadRows(const std::filesystem::path& path) {
  TS_ASSIGN_OR_RETURN(std::unique_ptr<csv::Reader> reader, csv::Reader::Open(path.string()));
  std::vector<std::vector<std::string>> rows;
  bool header = true;
  while (true) {
    TS_ASSIGN_OR_RETURN(bool more, reader->Next());
    if (!more) break;
    if (header) {
      header = false;
      continue;
    }
    rows.emplace_back(reader->fields().begin(), reader->fields().end());
  }
  return rows;
}

}  // namespace

TempDir::TempDir() {
  std::random_device entropy;
  path_ = std::filesystem::temp_directory_path() /
          ("towerstream-datagen-test-" + std::to_string(entropy()) + std::to_string(entropy()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> ReadLines(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

int Column(std::string_view header, std::string_view name) {
  int index = 0;
  size_t start = 0;
  while (true) {
    const size_t end = header.find(',', start);
    if (header.substr(start, end - start) == name) return index;
    if (end == std::string_view::npos) return -1;
    start = end + 1;
    ++index;
  }
}

GeneratorOptions SizedOptions(int64_t customers, int64_t articles, int64_t transactions,
                              uint64_t seed) {
  GeneratorOptions o;
  o.customers = customers;
  o.articles = articles;
  o.transactions = transactions;
  o.seed = seed;
  return o;
}

Result<std::unique_ptr<Dataset>> GenerateAndLoad(const GeneratorOptions& options,
                                                 const OracleSink& oracle) {
  auto data = std::make_unique<Dataset>();
  data->options = options;
  TS_ASSIGN_OR_RETURN(data->summary, Generate(options, data->dir.path(), oracle));
  TS_ASSIGN_OR_RETURN(data->articles, ReadRows(data->dir.path() / kArticlesFile));
  TS_ASSIGN_OR_RETURN(data->customers, ReadRows(data->dir.path() / kCustomersFile));

  std::vector<int64_t> article_ids;
  for (const auto& row : data->articles) article_ids.push_back(std::stoll(row[0]));
  std::vector<std::string> customer_ids;
  for (const auto& row : data->customers) customer_ids.push_back(row[0]);
  auto index_of = [](const auto& sorted, const auto& key) -> int32_t {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), key);
    return it != sorted.end() && *it == key ? static_cast<int32_t>(it - sorted.begin()) : -1;
  };

  std::ifstream in(data->dir.path() / kTransactionsFile, std::ios::binary);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    // t_dat,customer_id,article_id,price,sales_channel_id; format checks are the tests' job.
    LoadedTransaction t;
    const size_t c1 = line.find(','), c2 = line.find(',', c1 + 1), c3 = line.find(',', c2 + 1),
                 c4 = line.find(',', c3 + 1);
    if (c4 == std::string::npos) return Status::InvalidArgument("bad transaction line: " + line);
    Result<Date> date = Date::Parse(std::string_view(line).substr(0, c1));
    if (date.ok()) t.day = *date - options.start_date;
    t.customer = index_of(customer_ids, line.substr(c1 + 1, c2 - c1 - 1));
    int64_t article = -1;
    std::from_chars(line.data() + c2 + 1, line.data() + c3, article);
    t.article = index_of(article_ids, article);
    double price = -1;
    std::from_chars(line.data() + c3 + 1, line.data() + c4, price);
    t.price_k = std::llround(price * 59000);
    t.channel = std::atoi(line.c_str() + c4 + 1);
    data->transactions.push_back(t);
  }
  return data;
}

}  // namespace towerstream::datagen::testing
