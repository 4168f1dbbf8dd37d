// The generate pipeline: catalogue, customers, then transactions day by day, sampled on the
// calling thread and formatted and written on a second one.
#include "common/datagen/generator.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <numeric>
#include <optional>
#include <system_error>
#include <thread>
#include <utility>

#include "common/base/progress.h"
#include "common/csv/csv_writer.h"
#include "common/datagen/alias_table.h"
#include "common/datagen/calibration_tables.h"
#include "common/datagen/catalog.h"
#include "common/datagen/demand.h"
#include "common/datagen/oracle.h"
#include "common/datagen/output_file.h"
#include "common/datagen/population.h"
#include "common/datagen/random.h"
#include "common/hm/records.h"

namespace towerstream::datagen {
namespace {

namespace cal = calibration;

constexpr uint64_t kTransactionStream = 0x7a1e5;
constexpr uint64_t kPriceStream = 0x9a1ce;

// Limits that keep ids in their Kaggle widths and memory bounded.
constexpr int64_t kMaxCustomers = 50'000'000;
constexpr int64_t kMaxArticles = 2'000'000;          // product codes stay within 7 digits
constexpr int64_t kMaxTransactions = 2'000'000'000;  // rows of a day are numbered in 32 bits
constexpr int32_t kMaxDays = 36'500;
constexpr size_t kMinWriteBuffer = 64 << 10;  // an article row must fit

// Basket composition. After its first item, a basket's next item repeats the previous one
// (a second unit: real baskets have 9.65% such rows), is another colour of the same product,
// another article of the same cell, something bought on an earlier day, or a fresh choice.
constexpr double kPlannedDuplicateFraction = 0.75;
constexpr double kVariantShare = 0.15;
constexpr double kSameCellShare = 0.30;
constexpr double kLaterRepeatShare = 0.04;
// A basket's first item re-buys one of the customer's recent articles this often.
constexpr double kFirstRepeatShare = 0.12;
constexpr int kHistory = 8;  // recent articles remembered per customer
// A customer not yet joined is redrawn, at most this many times (then kept: tiny populations).
constexpr int kJoinRedraws = 32;

// Markdowns: the real average price per day falls below its mean on sale days. A share of
// articles is marked down to 50..80% (mean 65%) that day so that the day's mean follows.
constexpr double kMeanMarkdown = 0.65;
constexpr double kMaxMarkdownShare = 0.9;

// Kaggle's first day and the length of its curve.
constexpr int32_t kRealDays = static_cast<int32_t>(cal::kDaily.size());
constexpr int32_t kWrapDays = 728;  // 104 weeks: weekday-aligned, about two years

Date RealStart() { return Date::FromCivil(2018, 9, 20); }

// --- Formatting -------------------------------------------------------------------------

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// Kaggle pads product_code to 7 digits and colour_group_code to 2 ("09").
void AppendPadded(int64_t v, int width, std::string* out) {
  if (v < 0) return AppendInt(v, out);
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  const int digits = static_cast<int>(end - buf);
  if (digits < width) out->append(static_cast<size_t>(width - digits), '0');
  out->append(buf, end);
}

void AppendArticleRow(const hm::Article& a, std::string* out) {
  auto field = [&](std::string_view s) {
    csv::AppendField(out, s);
    out->push_back(',');
  };
  auto number = [&](int64_t v) {
    AppendInt(v, out);
    out->push_back(',');
  };
  AppendPadded(a.article_id, hm::kArticleIdDigits, out);
  out->push_back(',');
  AppendPadded(a.product_code, hm::kArticleIdDigits - 3, out);
  out->push_back(',');
  field(a.prod_name);
  number(a.product_type_no);
  field(a.product_type_name);
  field(a.product_group_name);
  number(a.graphical_appearance_no);
  field(a.graphical_appearance_name);
  AppendPadded(a.colour_group_code, 2, out);
  out->push_back(',');
  field(a.colour_group_name);
  number(a.perceived_colour_value_id);
  field(a.perceived_colour_value_name);
  number(a.perceived_colour_master_id);
  field(a.perceived_colour_master_name);
  number(a.department_no);
  field(a.department_name);
  field(a.index_code);
  field(a.index_name);
  number(a.index_group_no);
  field(a.index_group_name);
  number(a.section_no);
  field(a.section_name);
  number(a.garment_group_no);
  field(a.garment_group_name);
  csv::AppendField(out, a.detail_desc);
  out->push_back('\n');
}

// The shortest text that reads back as k / 59000 (Kaggle's "0.050830508474576264").
class PriceStrings {
 public:
  explicit PriceStrings(int32_t max_k) : offsets_(static_cast<size_t>(max_k) + 2, 0) {
    char buf[32];
    for (int32_t k = 0; k <= max_k; ++k) {
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), k / 59000.0);
      text_.append(buf, end);
      offsets_[static_cast<size_t>(k) + 1] = static_cast<uint32_t>(text_.size());
    }
  }
  std::string_view operator[](int32_t k) const {
    return std::string_view(text_).substr(offsets_[k], offsets_[k + 1] - offsets_[k]);
  }

 private:
  std::string text_;
  std::vector<uint32_t> offsets_;
};

// --- Transactions -----------------------------------------------------------------------

struct Row {
  uint64_t key;  // customer << 32 | position in the day: the order of the file
  int32_t article;
  int32_t price;  // k of k / 59000
  int32_t channel;
};

struct DayBatch {
  int32_t day = 0;
  std::vector<Row> rows;
};

// Day batches from the sampling thread to the writing thread, with a bounded backlog so the
// sampler cannot run away from a slow disk. Recycles batches to avoid reallocations.
class BatchQueue {
 public:
  explicit BatchQueue(size_t capacity) : capacity_(capacity) {}

  DayBatch TakeFree() {
    std::lock_guard lock(mu_);
    if (free_.empty()) return {};
    DayBatch b = std::move(free_.back());
    free_.pop_back();
    return b;
  }
  void GiveBack(DayBatch b) {
    std::lock_guard lock(mu_);
    free_.push_back(std::move(b));
  }
  // Blocks while the backlog is full.
  void Push(DayBatch b) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return full_.size() < capacity_; });
    full_.push_back(std::move(b));
    cv_.notify_all();
  }
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // The next batch, or nullopt once closed and drained.
  std::optional<DayBatch> Pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !full_.empty() || closed_; });
    if (full_.empty()) return std::nullopt;
    DayBatch b = std::move(full_.front());
    full_.pop_front();
    cv_.notify_all();
    return b;
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<DayBatch> full_;   // guarded by mu_
  std::vector<DayBatch> free_;  // guarded by mu_
  bool closed_ = false;         // guarded by mu_
};

// Draws each day's baskets. Owns the per-customer purchase history.
class TransactionSampler {
 public:
  TransactionSampler(uint64_t seed, const Catalog& catalog, const Population& population,
                     DemandModel& demand)
      : seed_(seed),
        catalog_(catalog),
        population_(population),
        demand_(demand),
        rng_(Rng::Stream(seed, kTransactionStream)),
        history_(static_cast<size_t>(population.size()) * kHistory, -1),
        bought_(static_cast<size_t>(population.size()), 0) {
    std::vector<double> w;
    w.reserve(static_cast<size_t>(population.size()));
    for (const CustomerModel& m : population.models) w.push_back(m.activity);
    customers_.Build(w);
    w.clear();
    double baskets = 0, rows = 0;
    for (size_t i = 0; i < cal::kBasketSizes.size(); ++i) {
      w.push_back(cal::kBasketSizes[i]);
      baskets += cal::kBasketSizes[i];
      rows += static_cast<double>(cal::kBasketSizes[i]) * static_cast<double>(i + 1);
    }
    basket_sizes_.Build(w);
    // Only rows after a basket's first can repeat it, and about a quarter of the real share
    // arises anyway (two baskets of a customer on one day, popular articles drawn twice).
    duplicate_share_ = std::min(
        0.5, kPlannedDuplicateFraction * cal::kBasketDuplicateRowShare / (1 - baskets / rows));
    w.clear();
    for (const ArticleModel& m : catalog.models) w.push_back(m.popularity);
    all_articles_.Build(w);
    for (int64_t c = 0; c < population.size(); ++c) {
      if (population.models[c].sure_day >= 0) sure_buyers_.push_back(c);
    }
    std::stable_sort(sure_buyers_.begin(), sure_buyers_.end(), [&](int64_t a, int64_t b) {
      return population.models[a].sure_day < population.models[b].sure_day;
    });
  }

  // The basket process's shares, for the oracle.
  BasketShape Shape() const {
    BasketShape shape;
    shape.first_repeat = kFirstRepeatShare;
    shape.duplicate = duplicate_share_;
    shape.variant = kVariantShare;
    shape.same_cell = kSameCellShare;
    shape.later_repeat = kLaterRepeatShare;
    double baskets = 0, later = 0;
    for (size_t i = 0; i < cal::kBasketSizes.size(); ++i) {
      baskets += cal::kBasketSizes[i];
      later += static_cast<double>(cal::kBasketSizes[i]) * static_cast<double>(i);
    }
    shape.later_items = baskets > 0 ? later / baskets : 0;
    return shape;
  }
  std::span<const int32_t> history() const { return history_; }
  std::span<const uint32_t> bought() const { return bought_; }

  void SampleDay(int32_t day, Date date, int64_t count, std::vector<Row>* rows) {
    demand_.StartDay(day, date);
    const double level = cal::kDaily[RealDayIndex(date)].avg_price / cal::kRealAveragePrice;
    markdown_share_ = std::clamp((1 - level) / (1 - kMeanMarkdown), 0.0, kMaxMarkdownShare);
    rows->clear();
    // First the customers sure to buy today, then baskets for customers drawn by activity.
    for (; next_sure_ < sure_buyers_.size() &&
           population_.models[sure_buyers_[next_sure_]].sure_day <= day;
         ++next_sure_) {
      Basket(sure_buyers_[next_sure_], day, count, rows);
    }
    while (static_cast<int64_t>(rows->size()) < count) Basket(DrawCustomer(day), day, count, rows);
    // customers.csv order within the day, basket order within a customer, like Kaggle.
    std::sort(rows->begin(), rows->end(), [](const Row& a, const Row& b) { return a.key < b.key; });
  }

 private:
  // Appends one basket of customer c (cut short at `count` rows for the day).
  void Basket(int64_t c, int32_t day, int64_t count, std::vector<Row>* rows) {
    const CustomerModel& customer = population_.models[c];
    const int64_t first = static_cast<int64_t>(rows->size());
    const int64_t size = std::min<int64_t>(basket_sizes_.Sample(rng_) + 1, count - first);
    const int32_t channel = rng_.Bernoulli(customer.online_share) ? 2 : 1;
    int32_t previous = -1;
    for (int64_t i = 0; i < size; ++i) {
      const int32_t a = DrawItem(c, customer, day, previous);
      const uint64_t key = (static_cast<uint64_t>(c) << 32) | static_cast<uint64_t>(first + i);
      rows->push_back({key, a, Price(a, day), channel});
      previous = a;
    }
    for (int64_t i = first; i < first + size; ++i) Remember(c, (*rows)[i].article);
  }

  int64_t DrawCustomer(int32_t day) {
    int64_t c = customers_.Sample(rng_);
    for (int i = 0; i < kJoinRedraws && population_.models[c].join_day > day; ++i) {
      c = customers_.Sample(rng_);
    }
    return c;
  }

  int32_t DrawItem(int64_t c, const CustomerModel& customer, int32_t day, int32_t previous) {
    if (previous < 0) {
      if (rng_.Bernoulli(kFirstRepeatShare)) {
        const int32_t a = FromHistory(c, day);
        if (a >= 0) return a;
      }
      return Fresh(customer);
    }
    double u = rng_.Uniform();
    if ((u -= duplicate_share_) < 0) return previous;
    // Other draws land on the previous article by chance too (often, in small catalogues);
    // redraw those so that second units stay at the calibrated share.
    int32_t a = DrawRelated(u, c, customer, day, previous);
    for (int attempt = 0; attempt < 2 && a == previous; ++attempt) a = Fresh(customer);
    return a;
  }

  // The non-duplicate kinds of later basket items; u is uniform in [0, 1 - duplicate share).
  int32_t DrawRelated(double u, int64_t c, const CustomerModel& customer, int32_t day,
                      int32_t previous) {
    if ((u -= kVariantShare) < 0) {
      const int32_t a = OtherVariant(previous, day);
      if (a >= 0) return a;
      u = 0;  // no other colour on sale: same cell instead
    }
    if ((u -= kSameCellShare) < 0) {
      const int32_t a = demand_.DrawFromCell(catalog_.models[previous].cell, customer, rng_);
      if (a >= 0) return a;
    }
    if ((u -= kLaterRepeatShare) < 0) {
      const int32_t a = FromHistory(c, day);
      if (a >= 0) return a;
    }
    return Fresh(customer);
  }

  int32_t Fresh(const CustomerModel& customer) {
    const int32_t a = demand_.DrawArticle(customer, rng_);
    // Nothing on sale at all (a tiny catalogue before its first launch): any article.
    return a >= 0 ? a : static_cast<int32_t>(all_articles_.Sample(rng_));
  }

  // One of the customer's recent articles if it still sells, else -1.
  int32_t FromHistory(int64_t c, int32_t day) {
    const uint32_t known = std::min<uint32_t>(bought_[c], kHistory);
    if (known == 0) return -1;
    const int32_t a = history_[static_cast<size_t>(c) * kHistory + rng_.Below(known)];
    return catalog_.Weight(a, day) > 0 ? a : -1;
  }

  // Another colour of the same product on sale that day, else -1.
  int32_t OtherVariant(int32_t a, int32_t day) {
    const int32_t p = catalog_.models[a].product;
    int32_t choices[16];
    int n = 0;
    for (int32_t v = catalog_.product_begin[p]; v < catalog_.product_begin[p + 1] && n < 16; ++v) {
      if (v != a && catalog_.models[v].launch_day <= day && day <= catalog_.models[v].last_day) {
        choices[n++] = v;
      }
    }
    return n == 0 ? -1 : choices[rng_.Below(static_cast<uint64_t>(n))];
  }

  void Remember(int64_t c, int32_t a) {
    history_[static_cast<size_t>(c) * kHistory + bought_[c] % kHistory] = a;
    ++bought_[c];
  }

  // Everyone pays the same for an article on a day: the list price, or a markdown that holds
  // for the week.
  int32_t Price(int32_t a, int32_t day) const {
    const int32_t list = catalog_.models[a].list_price;
    if (ToUnit(Hash64(seed_ ^ kPriceStream, static_cast<uint64_t>(a),
                      static_cast<uint64_t>(day))) >= markdown_share_) {
      return list;
    }
    const int64_t tenths =
        5 + static_cast<int64_t>(
                Hash64(seed_ ^ kPriceStream, static_cast<uint64_t>(a), 1000000 + day / 7) & 3);
    return static_cast<int32_t>(std::max<int64_t>(1, (list * tenths + 5) / 10));
  }

  const uint64_t seed_;
  const Catalog& catalog_;
  const Population& population_;
  DemandModel& demand_;
  Rng rng_;
  AliasTable customers_;     // by activity
  AliasTable basket_sizes_;  // real basket sizes
  AliasTable all_articles_;  // fallback when nothing is on sale
  double duplicate_share_ = 0;
  double markdown_share_ = 0;
  std::vector<int32_t> history_;      // kHistory slots per customer, a ring
  std::vector<uint32_t> bought_;      // rows bought so far per customer
  std::vector<int64_t> sure_buyers_;  // customers with a sure_day, by that day
  size_t next_sure_ = 0;
};

// Formats and writes day batches on its own thread.
class TransactionWriter {
 public:
  TransactionWriter(const Catalog& catalog, const Population& population, Date start, int32_t days,
                    OutputFile* file, BatchQueue* queue)
      : population_(population), file_(file), queue_(queue) {
    int32_t max_price = 1;
    for (const ArticleModel& m : catalog.models) max_price = std::max(max_price, m.list_price);
    prices_.emplace(max_price);
    article_ids_.resize(catalog.articles.size() * hm::kArticleIdDigits);
    for (size_t a = 0; a < catalog.articles.size(); ++a) {
      hm::FormatArticleId(catalog.articles[a].article_id,
                          article_ids_.data() + a * hm::kArticleIdDigits);
    }
    dates_.resize(static_cast<size_t>(days) * 10);
    for (int32_t d = 0; d < days; ++d) (start + d).Format(dates_.data() + d * 10);
  }

  void Run() {
    while (std::optional<DayBatch> batch = queue_->Pop()) {
      const char* date = dates_.data() + batch->day * 10;
      for (const Row& r : batch->rows) {
        const std::string_view price = (*prices_)[r.price];
        char* p = file_->Reserve(kMaxRow);
        std::memcpy(p, date, 10);
        p[10] = ',';
        std::memcpy(p + 11, population_.id(static_cast<int64_t>(r.key >> 32)).data(),
                    hm::kCustomerIdChars);
        p[75] = ',';
        std::memcpy(p + 76,
                    article_ids_.data() + static_cast<size_t>(r.article) * hm::kArticleIdDigits,
                    hm::kArticleIdDigits);
        p[86] = ',';
        std::memcpy(p + 87, price.data(), price.size());
        p += 87 + price.size();
        p[0] = ',';
        p[1] = static_cast<char>('0' + r.channel);
        p[2] = '\n';
        file_->Advance(90 + price.size());
      }
      queue_->GiveBack(std::move(*batch));
    }
  }

 private:
  static constexpr size_t kMaxRow = 128;

  const Population& population_;
  OutputFile* file_;
  BatchQueue* queue_;
  std::optional<PriceStrings> prices_;
  std::vector<char> article_ids_;
  std::vector<char> dates_;
};

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Writes a header and `rows` lines made by append_row(i, &line).
template <typename AppendRow>
Result<WrittenFile> WriteSmallFile(const std::filesystem::path& path, size_t buffer_bytes,
                                   std::string_view header, int64_t rows, AppendRow append_row) {
  TS_ASSIGN_OR_RETURN(std::unique_ptr<OutputFile> file, OutputFile::Create(path, buffer_bytes));
  std::string line(header);
  line.push_back('\n');
  file->Append(line);
  for (int64_t i = 0; i < rows; ++i) {
    line.clear();
    append_row(i, &line);
    file->Append(line);
  }
  const int64_t bytes = file->bytes();
  TS_RETURN_IF_ERROR(file->Commit());
  return WrittenFile{path, rows, bytes};
}

// Writes the transactions; with `oracle`, also ranks the held-out week's buyers into it.
Result<WrittenFile> WriteTransactions(const GeneratorOptions& options, const Catalog& catalog,
                                      const Population& population, DemandModel& demand,
                                      const std::filesystem::path& path, const OracleSink& oracle,
                                      std::optional<HeldOutWeek>* held_out) {
  TS_ASSIGN_OR_RETURN(std::unique_ptr<OutputFile> file,
                      OutputFile::Create(path, options.write_buffer_bytes));
  file->Append(std::string(hm::kTransactionsHeader) + "\n");
  const std::vector<int64_t> counts =
      DailyTransactionCounts(options.start_date, options.days, options.transactions);
  const int32_t days = options.first_days > 0 ? options.first_days : options.days;
  int64_t rows = 0;
  int32_t last_day = -1;  // the last day with rows: `evaluate` holds out the week ending there
  for (int32_t day = 0; day < days; ++day) {
    rows += counts[day];
    if (counts[day] > 0) last_day = day;
  }
  const int32_t week_start = last_day - (kHeldOutDays - 1);

  ProgressOptions progress_options;
  progress_options.label = "transactions";
  progress_options.out = options.progress ? stderr : nullptr;
  ProgressBar progress(rows, progress_options);

  double oracle_seconds = 0;
  BatchQueue queue(/*capacity=*/4);
  TransactionWriter writer(catalog, population, options.start_date, options.days, file.get(),
                           &queue);
  {
    // Closing the queue ends the writer; the guard also does it if sampling throws.
    std::thread writer_thread([&writer] { writer.Run(); });
    struct CloseAndJoin {
      BatchQueue& queue;
      std::thread& thread;
      ~CloseAndJoin() {
        queue.Close();
        thread.join();
      }
    } guard{queue, writer_thread};
    TransactionSampler sampler(options.seed, catalog, population, demand);
    std::optional<WeekOracle> week;
    if (oracle && last_day >= 0) week.emplace(catalog, population, sampler.Shape(), kHistory);
    for (int32_t day = 0; day < days; ++day) {
      if (week && day == std::max(week_start, 0)) {
        week->StartWeek(sampler.history(), sampler.bought());
      }
      DayBatch batch = queue.TakeFree();
      batch.day = day;
      sampler.SampleDay(day, options.start_date + day, counts[day], &batch.rows);
      if (week && day < week_start) {
        for (const Row& r : batch.rows) week->MarkSold(r.article);
      } else if (week && day <= last_day) {
        const auto started = std::chrono::steady_clock::now();
        week->AddDay(demand, day, counts[day]);
        for (const Row& r : batch.rows)
          week->AddPurchase(static_cast<int64_t>(r.key >> 32), r.article);
        oracle_seconds += SecondsSince(started);
      }
      queue.Push(std::move(batch));
      progress.Add(counts[day]);
    }
    if (week) {
      // Ranking runs while the writer drains its backlog.
      const auto started = std::chrono::steady_clock::now();
      HeldOutWeek h;
      h.start = options.start_date + week_start;
      h.end = options.start_date + (last_day + 1);
      h.purchases = week->purchases();
      week->Finish([&](const OracleRanking& r) {
        ++h.customers;
        oracle(r);
      });
      h.seconds = oracle_seconds + SecondsSince(started);
      *held_out = h;
    }
  }
  progress.Finish();
  const int64_t bytes = file->bytes();
  TS_RETURN_IF_ERROR(file->Commit());
  return WrittenFile{path, rows, bytes};
}

}  // namespace

GeneratorOptions GeneratorOptions::FullScale() {
  GeneratorOptions o;
  o.customers = cal::kRealCustomers;
  o.articles = cal::kRealArticles;
  o.transactions = cal::kRealTransactions;
  return o;
}

Status GeneratorOptions::Validate() const {
  auto range = [](std::string_view name, int64_t v, int64_t lo, int64_t hi) {
    if (v >= lo && v <= hi) return Status::Ok();
    return Status::InvalidArgument(std::string(name) + " must be in [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "], got " + std::to_string(v));
  };
  TS_RETURN_IF_ERROR(range("customers", customers, 1, kMaxCustomers));
  TS_RETURN_IF_ERROR(range("articles", articles, 1, kMaxArticles));
  TS_RETURN_IF_ERROR(range("transactions", transactions, 0, kMaxTransactions));
  TS_RETURN_IF_ERROR(range("days", days, 1, kMaxDays));
  TS_RETURN_IF_ERROR(range("first days", first_days, 0, days));
  int y;
  unsigned m, d;
  start_date.ToCivil(&y, &m, &d);
  if (y < 1900) {
    return Status::InvalidArgument("start date must be 1900-01-01 or later, got " +
                                   start_date.ToString());
  }
  (start_date + (days - 1)).ToCivil(&y, &m, &d);
  if (y > 9999) {
    return Status::InvalidArgument(
        "the last day (start date + days - 1) must be before year 10000");
  }
  if (write_buffer_bytes < kMinWriteBuffer) {
    return Status::InvalidArgument("write_buffer_bytes must be at least " +
                                   std::to_string(kMinWriteBuffer) + ", got " +
                                   std::to_string(write_buffer_bytes));
  }
  return Status::Ok();
}

int32_t RealDayIndex(Date date) {
  const int32_t offset = date - RealStart();
  if (offset >= 0 && offset < kRealDays) return offset;
  return ((offset % kWrapDays) + kWrapDays) % kWrapDays;
}

std::vector<int64_t> DailyTransactionCounts(Date start, int32_t days, int64_t total) {
  std::vector<int64_t> real(static_cast<size_t>(days));
  __int128 real_total = 0;
  for (int32_t d = 0; d < days; ++d) {
    real[d] = cal::kDaily[RealDayIndex(start + d)].transactions;
    real_total += real[d];
  }
  std::vector<int64_t> counts(static_cast<size_t>(days));
  std::vector<int64_t> remainder(static_cast<size_t>(days));
  int64_t assigned = 0;
  for (int32_t d = 0; d < days; ++d) {
    const __int128 scaled = static_cast<__int128>(real[d]) * total;
    counts[d] = static_cast<int64_t>(scaled / real_total);
    remainder[d] = static_cast<int64_t>(scaled % real_total);
    assigned += counts[d];
  }
  std::vector<int32_t> order(static_cast<size_t>(days));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return remainder[a] > remainder[b]; });
  for (int64_t i = 0; i < total - assigned; ++i) ++counts[order[static_cast<size_t>(i)]];
  return counts;
}

Result<GenerateSummary> Generate(const GeneratorOptions& options,
                                 const std::filesystem::path& out_dir, const OracleSink& oracle) {
  const auto start = std::chrono::steady_clock::now();
  TS_RETURN_IF_ERROR(options.Validate());
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec)
    return Status::IoError("cannot create directory " + out_dir.string() + ": " + ec.message());

  GenerateSummary summary;
  auto phase = std::chrono::steady_clock::now();
  const Catalog catalog = BuildCatalog(options.seed, options.articles, options.days);
  TS_ASSIGN_OR_RETURN(
      summary.articles,
      WriteSmallFile(
          out_dir / kArticlesFile, options.write_buffer_bytes, hm::kArticlesHeader,
          static_cast<int64_t>(catalog.articles.size()),
          [&](int64_t i, std::string* line) { AppendArticleRow(catalog.articles[i], line); }));
  summary.articles.seconds = SecondsSince(phase);

  phase = std::chrono::steady_clock::now();
  Population population = BuildPopulation(options.seed, options.customers, options.days);
  DemandModel demand(catalog);
  demand.AssignTastes(options.seed, &population);
  TS_ASSIGN_OR_RETURN(
      summary.customers,
      WriteSmallFile(out_dir / kCustomersFile, options.write_buffer_bytes, hm::kCustomersHeader,
                     population.size(),
                     [&](int64_t i, std::string* line) { population.AppendCsvRow(i, line); }));
  summary.customers.seconds = SecondsSince(phase);

  phase = std::chrono::steady_clock::now();
  TS_ASSIGN_OR_RETURN(summary.transactions,
                      WriteTransactions(options, catalog, population, demand,
                                        out_dir / kTransactionsFile, oracle, &summary.held_out));
  summary.transactions.seconds = SecondsSince(phase);
  if (summary.held_out) summary.transactions.seconds -= summary.held_out->seconds;
  summary.seconds = SecondsSince(start);
  return summary;
}

}  // namespace towerstream::datagen
