// Line charts as standalone SVG documents (`towerstream evaluate --plot`): a few named series
// over a shared x axis, with axes, ticks, a legend and a title. No dependency beyond the
// standard library; the output opens in any browser. Pure functions; thread-safe.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace towerstream::plot {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in order
};

struct LineChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::vector<Series> series;
  int width = 720;
  int height = 420;
  // The y axis starts at 0 (rates, recalls) unless the data go below it.
  bool y_from_zero = true;
};

// The chart as an SVG document. Series without points are listed in the legend only; a
// chart without any point still renders (empty axes), so callers need no special case.
std::string RenderSvg(const LineChart& chart);

}  // namespace towerstream::plot
