// best_possible.json: the generator's oracle figures, written and read back.
#include "common/evaluation/best_possible.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include <nlohmann/json.hpp>

namespace towerstream::evaluation {
namespace {

using Json = nlohmann::ordered_json;

// evaluate's segment keys, in its order.
constexpr std::string_view kReturning = "returning_customers";
constexpr std::string_view kNewCustomers = "new_customers";
constexpr std::string_view kNewArticles = "new_articles";

Json MetricsJson(const RankingMetrics& m, bool with_curve) {
  Json j = {{"customers", m.customers},       {"map_at_12", m.map_at_12},
            {"recall_at_12", m.recall_at_12}, {"recall_at_100", m.recall_at_100},
            {"coverage", m.coverage},         {"distinct_recommended", m.distinct_recommended}};
  if (with_curve) j["recall_curve"] = m.recall_curve;
  return j;
}

// Reads fields of one JSON object, keeping the first error with the file and the field.
class FieldReader {
 public:
  FieldReader(const Json& object, std::string file, std::string prefix)
      : object_(object), file_(std::move(file)), prefix_(std::move(prefix)) {}

  const Json* Get(std::string_view key, Json::value_t kind, std::string_view expected) {
    const std::string name = prefix_ + std::string(key);
    const auto it = object_.find(key);
    if (it == object_.end()) return Fail("missing field '" + name + "'");
    const bool ok = kind == Json::value_t::number_float ? it->is_number() : it->type() == kind;
    if (!ok) return Fail("field '" + name + "' must be " + std::string(expected));
    return &*it;
  }
  int64_t Count(std::string_view key) {
    const Json* v = Get(key, Json::value_t::number_unsigned, "a count (an integer >= 0)");
    return v == nullptr ? 0 : v->get<int64_t>();
  }
  // A figure: a number in [0, 1].
  double Fraction(std::string_view key) {
    const Json* v = Get(key, Json::value_t::number_float, "a number in [0, 1]");
    if (v == nullptr) return 0;
    const double x = v->get<double>();
    if (!(x >= 0 && x <= 1)) {
      Fail("field '" + prefix_ + std::string(key) + "' must be in [0, 1], got " + v->dump());
    }
    return x;
  }
  Date DateField(std::string_view key) {
    const Json* v = Get(key, Json::value_t::string, "a date (YYYY-MM-DD)");
    if (v == nullptr) return Date();
    Result<Date> d = Date::Parse(v->get<std::string>());
    if (!d.ok()) {
      Fail("field '" + prefix_ + std::string(key) + "': " + d.status().message());
      return Date();
    }
    return *d;
  }
  RankingMetrics Metrics(int64_t catalogue_size, bool with_curve) {
    RankingMetrics m;
    m.customers = Count("customers");
    m.map_at_12 = Fraction("map_at_12");
    m.recall_at_12 = Fraction("recall_at_12");
    m.recall_at_100 = Fraction("recall_at_100");
    m.coverage = Fraction("coverage");
    m.distinct_recommended = Count("distinct_recommended");
    m.catalogue_size = catalogue_size;
    if (with_curve) {
      if (const Json* curve = Get("recall_curve", Json::value_t::array, "an array of numbers")) {
        for (const Json& x : *curve) {
          if (!x.is_number() || !(x.get<double>() >= 0 && x.get<double>() <= 1)) {
            Fail("field '" + prefix_ + "recall_curve' must hold numbers in [0, 1]");
            break;
          }
          m.recall_curve.push_back(x.get<double>());
        }
      }
    }
    return m;
  }
  std::nullptr_t Fail(const std::string& reason) {
    if (error_.empty()) error_ = reason;
    return nullptr;
  }
  Status status() const {
    return error_.empty() ? Status::Ok() : Status::Corruption(file_ + ": " + error_);
  }

 private:
  const Json& object_;
  const std::string file_;
  const std::string prefix_;
  std::string error_;
};

// The JSON file a path names: itself, or the file in it or in its ground-truth folder.
std::filesystem::path ResolveFile(const std::filesystem::path& dir_or_file) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir_or_file, ec)) return dir_or_file;
  const std::filesystem::path direct = dir_or_file / kBestPossibleFile;
  if (std::filesystem::exists(direct, ec)) return direct;
  return dir_or_file / kGroundTruthDir / kBestPossibleFile;
}

}  // namespace

void BestPossibleAccumulator::Add(std::span<const hm::ArticleId> actual,
                                  std::span<const hm::ArticleId> new_articles,
                                  std::span<const hm::ArticleId> predicted, bool bought_before) {
  all_.Add(actual, predicted);
  (bought_before ? returning_ : new_customers_).Add(actual, predicted);
  if (!new_articles.empty()) new_articles_.Add(new_articles, predicted);
}

BestPossible BestPossibleAccumulator::Finish(int64_t catalogue_size) const {
  BestPossible b;
  b.catalogue_size = catalogue_size;
  b.metrics = all_.Finish(catalogue_size);
  b.customers = b.metrics.customers;
  b.segments = {{std::string(kReturning), returning_.Finish(catalogue_size)},
                {std::string(kNewCustomers), new_customers_.Finish(catalogue_size)},
                {std::string(kNewArticles), new_articles_.Finish(catalogue_size)}};
  for (BestPossibleSegment& s : b.segments) s.metrics.recall_curve.clear();
  return b;
}

Result<std::filesystem::path> WriteBestPossible(const BestPossible& figures,
                                                const std::filesystem::path& data_dir) {
  const std::filesystem::path dir = data_dir / kGroundTruthDir;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IoError("cannot create directory " + dir.string() + ": " + ec.message());
  Json segments = Json::object();
  for (const BestPossibleSegment& s : figures.segments) {
    segments[s.name] = MetricsJson(s.metrics, /*with_curve=*/false);
  }
  Json j = {{"description",
             "Best achievable ranking figures on the held-out week: each buyer's top 100 "
             "articles by the generator's own purchase probabilities, scored like evaluate."},
            {"method", figures.method},
            {"test_start", figures.test_start.ToString()},
            {"test_end", figures.test_end.ToString()},
            {"customers", figures.customers},
            {"purchases", figures.purchases},
            {"catalogue_size", figures.catalogue_size}};
  const Json overall = MetricsJson(figures.metrics, /*with_curve=*/true);
  for (const auto& [key, value] : overall.items()) {
    if (key != "customers") j[key] = value;
  }
  j["segments"] = std::move(segments);

  const std::filesystem::path path = dir / kBestPossibleFile;
  std::filesystem::path temp = path;
  temp += ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << j.dump(2) << '\n';
    out.flush();
    if (!out) {
      return Status::IoError("cannot write " + temp.string() + ": " + std::strerror(errno));
    }
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    return Status::IoError("cannot rename " + temp.string() + " to " + path.string() + ": " +
                           ec.message());
  }
  return path;
}

Result<BestPossible> LoadBestPossible(const std::filesystem::path& dir_or_file) {
  const std::filesystem::path path = ResolveFile(dir_or_file);
  const std::string file = "best possible figures " + path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::NotFound(file + ": " + std::strerror(errno) +
                            " (written by `towerstream generate` beside the data it generates)");
  }
  std::stringstream text;
  text << in.rdbuf();
  Json j;
  try {
    j = Json::parse(text.str());
  } catch (const nlohmann::json::exception& e) {
    return Status::Corruption(file + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) return Status::Corruption(file + ": not a JSON object");

  BestPossible b;
  FieldReader top(j, file, "");
  if (const Json* method = top.Get("method", Json::value_t::string, "a string")) {
    b.method = method->get<std::string>();
  }
  b.test_start = top.DateField("test_start");
  b.test_end = top.DateField("test_end");
  b.customers = top.Count("customers");
  b.purchases = top.Count("purchases");
  b.catalogue_size = top.Count("catalogue_size");
  b.metrics = top.Metrics(b.catalogue_size, /*with_curve=*/true);
  const Json* segments = top.Get("segments", Json::value_t::object, "an object");
  TS_RETURN_IF_ERROR(top.status());
  if (!(b.test_start < b.test_end)) {
    return Status::Corruption(file + ": test_end " + b.test_end.ToString() +
                              " is not after test_start " + b.test_start.ToString());
  }
  for (std::string_view name : {kReturning, kNewCustomers, kNewArticles}) {
    const auto it = segments->find(name);
    if (it == segments->end()) continue;  // a segment nobody is in may be left out
    const std::string prefix = "segments." + std::string(name) + ".";
    if (!it->is_object())
      return Status::Corruption(file + ": field '" + prefix + "' is not an object");
    FieldReader reader(*it, file, prefix);
    BestPossibleSegment s{std::string(name), reader.Metrics(b.catalogue_size, false)};
    TS_RETURN_IF_ERROR(reader.status());
    b.segments.push_back(std::move(s));
  }
  return b;
}

}  // namespace towerstream::evaluation
