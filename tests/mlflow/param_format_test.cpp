// MLflow parameter values as a person wrote them: no float noise from widening to double.
#include <gtest/gtest.h>

#include <string>

#include "common/mlflow/param_format.h"

namespace towerstream::mlflow {
namespace {

TEST(ParamFormatTest, FloatsAreWrittenAsTheShortestTextOfTheFloat) {
  const struct {
    float value;
    const char* text;
  } cases[] = {{0.05f, "0.05"}, {0.1f, "0.1"}, {1e-6f, "1e-06"}, {2.0f, "2"}, {-0.25f, "-0.25"}};
  for (const auto& c : cases) EXPECT_EQ(FormatParam(c.value), c.text) << c.text;
}

TEST(ParamFormatTest, DoublesAreWrittenAsTheShortestTextOfTheDouble) {
  const struct {
    double value;
    const char* text;
  } cases[] = {
      {0.002, "0.002"}, {4.0, "4"}, {0.1, "0.1"}, {1e-300, "1e-300"}, {123456.5, "123456.5"}};
  for (const auto& c : cases) EXPECT_EQ(FormatParam(c.value), c.text) << c.text;
}

// A float that went through JSON is a double such as 0.05000000074505806.
TEST(ParamFormatTest, AFloatWidenedToDoubleIsWrittenAsTheFloat) {
  EXPECT_EQ(FormatJsonNumberParam(static_cast<double>(0.05f)), "0.05");
  EXPECT_EQ(FormatJsonNumberParam(static_cast<double>(0.3f)), "0.3");
  EXPECT_NE(std::to_string(static_cast<double>(0.05f)), "0.05");  // what the fix is for
}

TEST(ParamFormatTest, ADoubleThatIsNoFloatKeepsItsOwnDigits) {
  EXPECT_EQ(FormatJsonNumberParam(0.05), "0.05");
  EXPECT_EQ(FormatJsonNumberParam(2e-3), "0.002");
  EXPECT_EQ(FormatJsonNumberParam(0.1), "0.1");
  EXPECT_EQ(FormatJsonNumberParam(1e300), "1e+300");  // beyond float's range
  EXPECT_EQ(FormatJsonNumberParam(4.0), "4");
}

}  // namespace
}  // namespace towerstream::mlflow
