// Customer generation: hashed ids, calibrated statuses and ages, heavy-tailed activity.
#include "common/datagen/population.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "common/datagen/alias_table.h"
#include "common/datagen/calibration_tables.h"
#include "common/datagen/random.h"

namespace towerstream::datagen {
namespace {

namespace cal = calibration;

constexpr uint64_t kIdStream = 0x1d5;
constexpr uint64_t kPostalStream = 0x905a1;
constexpr uint64_t kAttributeStream = 0xa77b;

// Real customers.csv: 352,899 postal codes for 1,371,980 customers, one of them (a
// placeholder) on 8.77% of customers, the others on at most a few hundred each.
constexpr double kPostalCodesPerCustomer = 0.257;
constexpr double kPlaceholderPostalShare = 0.0877;
// Kaggle spells "NONE" all but twice as "None"; the generated share is raised so that a
// mid-size file shows both spellings to readers under test.
constexpr double kMinNoneSpellingShare = 5e-4;
// FN and Active follow the news subscription (real: FN 34.8%, Active 33.8%).
constexpr double kFnIfSubscribed = 0.99, kFnOtherwise = 0.002;
constexpr double kActiveIfFn = 0.97, kActiveOtherwise = 0.002;
// Customers already shopping when the data starts; the others join at a uniform day.
constexpr double kExistingCustomerShare = 0.6;
// Real: 99.3% of customers have transactions. Joiners buy on their join day; this share of
// the others on one uniform day.
constexpr double kSureBuyerShare = 0.99;
// Shopping-day rate: log-normal, so many customers buy a few times and some very often.
constexpr double kActivitySigma = 1.2;
// Channel habits: mostly online, mostly in store, or mixed. The online-heavy share is solved
// for so that the mean matches the real online share.
constexpr double kOnlineHeavy = 0.97, kStoreHeavy = 0.12, kMixed = 0.6;
constexpr double kStoreHeavyShare = 0.25;
constexpr double kChannelJitter = 0.02;

// Ages within a bucket: linear weights from the first to the last age, except 60_plus which
// falls geometrically (real ages reach 99).
struct AgeRange {
  std::string_view bucket;
  int lo, hi;
  double w_lo, w_hi;
};
constexpr AgeRange kAgeRanges[] = {
    {"under_20", 16, 19, 1.0, 2.5}, {"20_to_29", 20, 29, 1.2, 0.8}, {"30_to_39", 30, 39, 1.0, 0.8},
    {"40_to_49", 40, 49, 0.9, 1.0}, {"50_to_59", 50, 59, 1.1, 0.8}, {"60_plus", 60, 99, 1.0, 0.0},
};
constexpr double k60PlusRatio = 0.9;

void AppendHex(uint64_t word, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 15; i >= 0; --i) {
    out[i] = kHex[word & 15];
    word >>= 4;
  }
}

void HexId(uint64_t seed, uint64_t stream, uint64_t index, char* out) {
  for (uint64_t w = 0; w < 4; ++w) AppendHex(Hash64(Hash64(seed, stream), index, w), out + 16 * w);
}

// Per bucket, an alias table over its ages (empty for "unknown").
std::vector<std::pair<int, AliasTable>> AgeTables() {
  std::vector<std::pair<int, AliasTable>> tables;
  for (const auto& bucket : cal::kAgeBuckets) {
    const AgeRange* range = nullptr;
    for (const auto& r : kAgeRanges) {
      if (r.bucket == bucket.name) range = &r;
    }
    if (range == nullptr) {
      tables.emplace_back(0, AliasTable());
      continue;
    }
    std::vector<double> w;
    for (int age = range->lo; age <= range->hi; ++age) {
      if (range->bucket == "60_plus") {
        w.push_back(w.empty() ? 1.0 : w.back() * k60PlusRatio);
      } else {
        const double t =
            range->hi > range->lo ? double(age - range->lo) / (range->hi - range->lo) : 0;
        w.push_back(range->w_lo + t * (range->w_hi - range->w_lo));
      }
    }
    tables.emplace_back(range->lo, AliasTable(w));
  }
  return tables;
}

}  // namespace

hm::Customer Population::Row(int64_t i) const {
  const CustomerModel& m = models[static_cast<size_t>(i)];
  hm::Customer c;
  c.customer_id = std::string(id(i));
  if (m.fn) c.fn = 1.0f;
  if (m.active) c.active = 1.0f;
  const std::string_view club = cal::kClubMemberStatus[m.club].name;
  if (!club.empty()) c.club_member_status = std::string(club);
  const std::string_view news = cal::kFashionNews[m.news].name;
  if (!news.empty()) {
    Result<hm::FashionNews> parsed = hm::ParseFashionNews(news);
    if (parsed.ok()) c.fashion_news_frequency = *parsed;
  }
  if (m.age > 0) c.age = m.age;
  c.postal_code = std::string(postal_code(m.postal));
  return c;
}

void Population::AppendCsvRow(int64_t i, std::string* out) const {
  const CustomerModel& m = models[static_cast<size_t>(i)];
  out->append(id(i));
  out->append(m.fn ? ",1.0" : ",");
  out->append(m.active ? ",1.0," : ",,");
  out->append(cal::kClubMemberStatus[m.club].name);
  out->push_back(',');
  out->append(cal::kFashionNews[m.news].name);
  out->push_back(',');
  if (m.age > 0) {
    char buf[4];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), m.age);
    out->append(buf, end);
  }
  out->push_back(',');
  out->append(postal_code(m.postal));
  out->push_back('\n');
}

Population BuildPopulation(uint64_t seed, int64_t count, int32_t days) {
  Population pop;

  // Ids: 256 hashed bits per customer, numbered in sorted order like customers.csv.
  std::vector<std::array<char, hm::kCustomerIdChars>> ids(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    HexId(seed, kIdStream, static_cast<uint64_t>(i), ids[i].data());
  std::sort(ids.begin(), ids.end());
  pop.ids.resize(static_cast<size_t>(count) * hm::kCustomerIdChars);
  for (int64_t i = 0; i < count; ++i) {
    std::copy(ids[i].begin(), ids[i].end(), pop.ids.begin() + i * hm::kCustomerIdChars);
  }
  ids = {};

  const int64_t postal_count = std::max<int64_t>(
      1, static_cast<int64_t>(static_cast<double>(count) * kPostalCodesPerCustomer));
  pop.postal_codes.resize(static_cast<size_t>(postal_count) * 64);
  for (int64_t p = 0; p < postal_count; ++p) {
    HexId(seed, kPostalStream, static_cast<uint64_t>(p), pop.postal_codes.data() + p * 64);
  }

  std::vector<double> w;
  for (const auto& b : cal::kAgeBuckets) w.push_back(b.share);
  const AliasTable buckets(w);
  const auto ages = AgeTables();
  w.clear();
  for (const auto& s : cal::kClubMemberStatus) w.push_back(s.share);
  const AliasTable clubs(w);
  w.clear();
  for (const auto& s : cal::kFashionNews)
    w.push_back(s.name == "None" ? std::max(s.share, kMinNoneSpellingShare) : s.share);
  const AliasTable news(w);
  const double online_heavy_share = std::clamp(
      (cal::kOnlineShare - kStoreHeavyShare * kStoreHeavy - (1 - kStoreHeavyShare) * kMixed) /
          (kOnlineHeavy - kMixed),
      0.0, 1 - kStoreHeavyShare);

  Rng rng = Rng::Stream(seed, kAttributeStream);
  pop.models.resize(static_cast<size_t>(count));
  for (CustomerModel& m : pop.models) {
    m.age_band = static_cast<uint8_t>(buckets.Sample(rng));
    const auto& [lo, age_table] = ages[m.age_band];
    m.age =
        age_table.empty() ? 0 : static_cast<uint8_t>(lo + static_cast<int>(age_table.Sample(rng)));
    m.club = static_cast<uint8_t>(clubs.Sample(rng));
    m.news = static_cast<uint8_t>(news.Sample(rng));
    const std::string_view news_name = cal::kFashionNews[m.news].name;
    const bool subscribed = news_name == "Regularly" || news_name == "Monthly";
    m.fn = rng.Bernoulli(subscribed ? kFnIfSubscribed : kFnOtherwise);
    m.active = rng.Bernoulli(m.fn ? kActiveIfFn : kActiveOtherwise);
    if (rng.Uniform() >= kPlaceholderPostalShare && postal_count > 1) {
      // u^1.5 crowds customers towards the low codes: a heavy but not extreme tail.
      const double u = rng.Uniform();
      m.postal =
          1 + static_cast<uint32_t>(static_cast<double>(postal_count - 1) * u * std::sqrt(u));
    }
    const bool existing = rng.Bernoulli(kExistingCustomerShare);
    const int32_t day = static_cast<int32_t>(rng.Below(static_cast<uint64_t>(days)));
    m.join_day = existing ? -1 : day;
    m.sure_day = !existing || rng.Bernoulli(kSureBuyerShare) ? day : -1;
    m.activity = static_cast<float>(rng.LogNormal(0, kActivitySigma));
    const double kind = rng.Uniform();
    const double base = kind < kStoreHeavyShare                        ? kStoreHeavy
                        : kind < kStoreHeavyShare + online_heavy_share ? kOnlineHeavy
                                                                       : kMixed;
    m.online_share =
        static_cast<float>(std::clamp(base + kChannelJitter * (2 * rng.Uniform() - 1), 0.0, 1.0));
  }
  return pop;
}

}  // namespace towerstream::datagen
