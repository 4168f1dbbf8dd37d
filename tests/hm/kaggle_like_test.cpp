// Reads Kaggle-format files written by another generator (Python's csv module, in two
// quoting styles) and checks every value against what that generator says it wrote.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/hm/hm_reader.h"

namespace towerstream::hm {
namespace {

using nlohmann::json;

template <typename T>
std::optional<T> Optional(const json& j) {
  if (j.is_null()) return std::nullopt;
  return j.get<T>();
}

Article ArticleFrom(const json& j) {
  Article a;
  a.article_id = j.at("article_id").get<ArticleId>();
  a.product_code = j.at("product_code").get<int64_t>();
  a.prod_name = j.at("prod_name").get<std::string>();
  a.product_type_no = j.at("product_type_no").get<int32_t>();
  a.product_type_name = j.at("product_type_name").get<std::string>();
  a.product_group_name = j.at("product_group_name").get<std::string>();
  a.graphical_appearance_no = j.at("graphical_appearance_no").get<int32_t>();
  a.graphical_appearance_name = j.at("graphical_appearance_name").get<std::string>();
  a.colour_group_code = j.at("colour_group_code").get<int32_t>();
  a.colour_group_name = j.at("colour_group_name").get<std::string>();
  a.perceived_colour_value_id = j.at("perceived_colour_value_id").get<int32_t>();
  a.perceived_colour_value_name = j.at("perceived_colour_value_name").get<std::string>();
  a.perceived_colour_master_id = j.at("perceived_colour_master_id").get<int32_t>();
  a.perceived_colour_master_name = j.at("perceived_colour_master_name").get<std::string>();
  a.department_no = j.at("department_no").get<int32_t>();
  a.department_name = j.at("department_name").get<std::string>();
  a.index_code = j.at("index_code").get<std::string>();
  a.index_name = j.at("index_name").get<std::string>();
  a.index_group_no = j.at("index_group_no").get<int32_t>();
  a.index_group_name = j.at("index_group_name").get<std::string>();
  a.section_no = j.at("section_no").get<int32_t>();
  a.section_name = j.at("section_name").get<std::string>();
  a.garment_group_no = j.at("garment_group_no").get<int32_t>();
  a.garment_group_name = j.at("garment_group_name").get<std::string>();
  a.detail_desc = j.at("detail_desc").get<std::string>();
  return a;
}

Customer CustomerFrom(const json& j) {
  Customer c;
  c.customer_id = j.at("customer_id").get<std::string>();
  c.fn = Optional<float>(j.at("fn"));
  c.active = Optional<float>(j.at("active"));
  c.club_member_status = Optional<std::string>(j.at("club_member_status"));
  if (!j.at("fashion_news_frequency").is_null()) {
    c.fashion_news_frequency = *ParseFashionNews(j.at("fashion_news_frequency").get<std::string>());
  }
  c.age = Optional<int32_t>(j.at("age"));
  c.postal_code = j.at("postal_code").get<std::string>();
  return c;
}

Transaction TransactionFrom(const json& j) {
  Transaction t;
  t.t_dat = *Date::Parse(j.at("t_dat").get<std::string>());
  t.customer_id = j.at("customer_id").get<std::string>();
  t.article_id = j.at("article_id").get<ArticleId>();
  t.price = j.at("price").get<double>();
  t.sales_channel_id = j.at("sales_channel_id").get<int32_t>();
  return t;
}

class KaggleLikeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("kaggle_like_test_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    const std::string command =
        "python3 " + std::string(TOWERSTREAM_KAGGLE_LIKE_SCRIPT) + " " + dir_.string();
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
    std::ifstream in(dir_ / "expected.json");
    expected_ = json::parse(in);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  template <typename Record>
  void ExpectFileReadsAsWritten(const std::string& file, const json& expected,
                                Record (*from_json)(const json&)) {
    for (const json& set : expected_.at("sets")) {
      const std::string path = (dir_ / set.get<std::string>() / file).string();
      SCOPED_TRACE(path);
      LoadStats stats;
      Result<std::vector<Record>> records = ReadAll<Record>(path, {}, &stats);
      ASSERT_TRUE(records.ok()) << records.status().ToString();
      EXPECT_EQ(stats.rows_rejected, 0) << (stats.errors.empty() ? "" : stats.errors[0].ToString());
      ASSERT_EQ(records->size(), expected.size());
      for (size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ((*records)[i], from_json(expected[i])) << "row " << i << ": " << expected[i];
      }
    }
  }

  std::filesystem::path dir_;
  json expected_;
};

TEST_F(KaggleLikeTest, ReadsArticlesExactlyAsWritten) {
  ExpectFileReadsAsWritten<Article>("articles.csv", expected_.at("records").at("articles"),
                                    &ArticleFrom);
}

TEST_F(KaggleLikeTest, ReadsCustomersExactlyAsWritten) {
  ExpectFileReadsAsWritten<Customer>("customers.csv", expected_.at("records").at("customers"),
                                     &CustomerFrom);
}

TEST_F(KaggleLikeTest, ReadsTransactionsExactlyAsWritten) {
  ExpectFileReadsAsWritten<Transaction>(
      "transactions.csv", expected_.at("records").at("transactions"), &TransactionFrom);
}

}  // namespace
}  // namespace towerstream::hm
