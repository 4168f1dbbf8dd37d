// RenderSvg: a well-formed document with one polyline per series holding its points, escaped
// text, something sensible for degenerate input, a y axis that ends on a labelled nice tick, and
// a legend that covers no line.
#include "common/plot/line_chart.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace towerstream::plot {
namespace {

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(LineChartTest, DrawsOnePolylinePerSeriesWithAllItsPoints) {
  LineChart chart;
  chart.title = "Recall";
  chart.series = {{"model", {{1, 0.1}, {2, 0.2}, {3, 0.35}}},
                  {"popularity", {{1, 0.05}, {3, 0.1}}}};
  const std::string svg = RenderSvg(chart);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<polyline"), 2u);
  const size_t first = svg.find("points=\"");
  const std::string points = svg.substr(first + 8, svg.find('"', first + 8) - first - 8);
  EXPECT_EQ(Count(points, ","), 3u);  // three x,y pairs
  EXPECT_NE(svg.find(">model</text>"), std::string::npos);
  EXPECT_NE(svg.find(">popularity</text>"), std::string::npos);
}

TEST(LineChartTest, EscapesTextAndSkipsNonFinitePoints) {
  LineChart chart;
  chart.title = "a < b & \"c\"";
  chart.series = {{"x>y", {{0, 1}, {1, std::numeric_limits<double>::quiet_NaN()}, {2, 3}}}};
  const std::string svg = RenderSvg(chart);
  EXPECT_NE(svg.find("a &lt; b &amp; &quot;c&quot;"), std::string::npos);
  EXPECT_NE(svg.find("x&gt;y"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

TEST(LineChartTest, AnEmptyOrFlatChartStillRenders) {
  LineChart empty;
  empty.series = {{"nothing", {}}};
  const std::string a = RenderSvg(empty);
  EXPECT_NE(a.find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(a, "<polyline"), 0u);
  LineChart flat;
  flat.series = {{"constant", {{5, 2}, {5, 2}}}};
  const std::string b = RenderSvg(flat);
  EXPECT_EQ(b.find("nan"), std::string::npos);
  EXPECT_EQ(b.find("inf"), std::string::npos);
  EXPECT_EQ(Count(b, "<polyline"), 1u);
}

TEST(LineChartTest, NiceAxisEndsOnATickOfOneTwoOrFiveTimesAPowerOfTen) {
  struct Case {
    double lo, hi, min, max, step;
  };
  const std::vector<Case> cases = {
      {0, 0.37, 0, 0.4, 0.1},
      {0, 0.93, 0, 1.0, 0.2},
      {0, 1234, 0, 1500, 500},
      {0, 0.3, 0, 0.3, 0.05},
      {0, 1, 0, 1, 0.2},
      {0, 0.1 + 0.2, 0, 0.3, 0.05},
      {-0.7, 2.1, -1, 2.5, 0.5},
      {5, 5, 5, 6, 1},
      {3.2, 7.9, 3, 8, 1},
      {0, 0.0123, 0, 0.015, 0.005},
      {0, 48'000, 0, 50'000, 10'000},
  };
  for (const Case& c : cases) {
    const Axis axis = NiceAxis(c.lo, c.hi, 6);
    const std::string input = "[" + std::to_string(c.lo) + ", " + std::to_string(c.hi) + "]";
    EXPECT_NEAR(axis.step, c.step, c.step * 1e-9) << input;
    EXPECT_NEAR(axis.min, c.min, c.step * 1e-9) << input;
    EXPECT_NEAR(axis.max, c.max, c.step * 1e-9) << input;
    EXPECT_LE(axis.min, c.lo) << input;
    EXPECT_GE(axis.max, c.hi - c.step * 1e-9) << input;
    // The step is 1, 2 or 5 times a power of ten.
    const double mantissa = axis.step / std::pow(10.0, std::floor(std::log10(axis.step)));
    EXPECT_TRUE(std::fabs(mantissa - 1) < 1e-9 || std::fabs(mantissa - 2) < 1e-9 ||
                std::fabs(mantissa - 5) < 1e-9)
        << input << ": step " << axis.step;
  }
}

TEST(LineChartTest, TheTopOfTheYAxisIsALabelledTick) {
  LineChart chart;
  chart.series = {{"recall", {{1, 0.05}, {50, 0.21}, {100, 0.37}}}};
  const std::string svg = RenderSvg(chart);
  EXPECT_NE(svg.find(">0.4</text>"), std::string::npos) << svg;
  EXPECT_EQ(svg.find(">0.45</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">0.5</text>"), std::string::npos);
  // The top tick's line is the plot area's top edge (y = 40).
  EXPECT_NE(svg.find("y1=\"40.0\" x2=\"700.0\" y2=\"40.0\" stroke=\"#e5e5e5\""), std::string::npos)
      << svg;
}

TEST(LineChartTest, LegendGoesToACornerTheLinesDoNotCross) {
  // Recall curves rise steeply and flatten: the top right and top left are drawn through
  // (the top-left corner by the steep start), the bottom right is free.
  LineChart rising;
  std::vector<std::pair<double, double>> model, baseline;
  for (int k = 1; k <= 100; ++k) {
    model.emplace_back(k, 0.9 * (1 - std::exp(-k / 5.0)));
    baseline.emplace_back(k, 0.8 * (1 - std::exp(-k / 4.0)));
  }
  rising.series = {{"model", model}, {"popularity", baseline}};
  EXPECT_EQ(PlaceLegend(rising), LegendPosition::kBottomRight);
  // A falling loss curve leaves the top right free.
  LineChart falling;
  falling.series = {{"loss", {{0, 9}, {10, 4}, {20, 2}, {100, 1.5}}}};
  EXPECT_EQ(PlaceLegend(falling), LegendPosition::kTopRight);
  // A rising straight line leaves the top left free.
  LineChart diagonal;
  diagonal.series = {{"line", {{0, 0}, {10, 1}}}};
  EXPECT_EQ(PlaceLegend(diagonal), LegendPosition::kTopLeft);
}

TEST(LineChartTest, LegendGoesOutsideWhenEveryCornerIsDrawnThrough) {
  LineChart busy;
  busy.series = {{"high", {{0, 0.95}, {10, 0.95}}}, {"low", {{0, 0.05}, {10, 0.05}}}};
  EXPECT_EQ(PlaceLegend(busy), LegendPosition::kOutsideRight);
  const std::string svg = RenderSvg(busy);
  // The plot area narrows to leave the legend room on its right.
  const std::string legend_box = "<g class=\"legend\"><rect x=\"";
  const size_t legend = svg.find(legend_box);
  ASSERT_NE(legend, std::string::npos) << svg;
  const double legend_x = std::stod(svg.substr(legend + legend_box.size()));
  const std::string frame_box = "<rect x=\"70\" y=\"40\" width=\"";
  const size_t frame = svg.find(frame_box);
  ASSERT_NE(frame, std::string::npos) << svg;
  const double plot_right = 70 + std::stod(svg.substr(frame + frame_box.size()));
  EXPECT_GT(legend_x, plot_right);
  EXPECT_LT(legend_x, busy.width);
}

}  // namespace
}  // namespace towerstream::plot
