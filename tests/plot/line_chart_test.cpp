// RenderSvg: a well-formed document with one polyline per series holding its points, escaped
// text, and something sensible for degenerate input.
#include "common/plot/line_chart.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

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

}  // namespace
}  // namespace towerstream::plot
