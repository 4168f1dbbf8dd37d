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

// An axis whose ends are multiples of a "nice" step (1, 2 or 5 times a power of ten), so that
// both ends carry a labelled tick: data up to 0.37 give an axis to 0.4 in steps of 0.1.
struct Axis {
  double min = 0;
  double max = 1;
  double step = 1;
  int ticks() const;  // tick marks from min to max, both included
};

// The nice axis covering [lo, hi] with about `target_ticks` steps (lo == hi gives one step).
Axis NiceAxis(double lo, double hi, int target_ticks);

// Where the legend goes: the corner of the plot area whose box covers no line, or, when every
// corner is drawn through, outside the plot area on its right.
enum class LegendPosition { kTopRight, kTopLeft, kBottomRight, kBottomLeft, kOutsideRight };

LegendPosition PlaceLegend(const LineChart& chart);

// The chart as an SVG document. Series without points are listed in the legend only; a
// chart without any point still renders (empty axes), so callers need no special case.
std::string RenderSvg(const LineChart& chart);

}  // namespace towerstream::plot
