// SVG line charts: nice axes, a legend placed off the data, one polyline per series.
#include "common/plot/line_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace towerstream::plot {
namespace {

// Colour-blind-safe palette (Okabe and Ito).
constexpr const char* kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                    "#E69F00", "#56B4E9", "#000000"};
constexpr int kLeft = 70, kRight = 20, kTop = 40, kBottom = 55;

std::string Escape(const std::string& text) {
  std::string out;
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `count` ticks over `span`.
double TickStep(double span, int count) {
  if (!(span > 0)) return 1;
  const double raw = span / count;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 5.0}) {
    // A span a rounding error above a nice one (0.1 + 0.2) keeps the nice step.
    if (raw <= m * magnitude * (1 + 1e-9)) return m * magnitude;
  }
  return 10 * magnitude;
}

std::string Number(double v) {
  char text[32];
  const double a = std::fabs(v);
  if (a >= 1e6) {
    std::snprintf(text, sizeof(text), "%.3gM", v / 1e6);
  } else if (a >= 1e4) {
    std::snprintf(text, sizeof(text), "%.3gk", v / 1e3);
  } else {
    std::snprintf(text, sizeof(text), "%.4g", v);
  }
  return text;
}

constexpr double kLegendRow = 16, kLegendPad = 8, kLegendSwatch = 26, kCharWidth = 7;

// Where everything goes, in pixels: the plot area and the mapping of data into it.
struct Layout {
  double x_min = 0, x_max = 1;
  Axis y;
  double left = kLeft, top = kTop, plot_w = 0, plot_h = 0;
  double legend_w = 0, legend_h = 0;

  double X(double v) const { return left + (v - x_min) / (x_max - x_min) * plot_w; }
  double Y(double v) const { return top + (1 - (v - y.min) / (y.max - y.min)) * plot_h; }
};

Layout LayOut(const LineChart& chart, bool legend_outside) {
  Layout l;
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  for (const Series& s : chart.series) {
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x_min = std::min(x_min, x), x_max = std::max(x_max, x);
      y_min = std::min(y_min, y), y_max = std::max(y_max, y);
    }
  }
  if (!std::isfinite(x_min)) x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  if (chart.y_from_zero) y_min = std::min(y_min, 0.0);
  if (x_max <= x_min) x_max = x_min + 1;
  l.x_min = x_min, l.x_max = x_max;
  l.y = NiceAxis(y_min, y_max, 6);
  size_t longest = 0;
  for (const Series& s : chart.series) longest = std::max(longest, s.name.size());
  l.legend_w = kLegendSwatch + kCharWidth * static_cast<double>(longest) + kLegendPad;
  l.legend_h = kLegendRow * static_cast<double>(chart.series.size()) + kLegendPad;
  const double right = legend_outside ? kRight + l.legend_w + 10 : kRight;
  l.plot_w = std::max(1.0, chart.width - kLeft - right);
  l.plot_h = std::max(1.0, static_cast<double>(chart.height - kTop - kBottom));
  return l;
}

// The legend's box (x, y of its top-left corner) in a corner of the plot area.
std::pair<double, double> LegendOrigin(const Layout& l, LegendPosition where) {
  const double inset = 6;
  const double left = l.left + inset, right = l.left + l.plot_w - inset - l.legend_w;
  const double top = l.top + inset, bottom = l.top + l.plot_h - inset - l.legend_h;
  switch (where) {
    case LegendPosition::kTopLeft:
      return {left, top};
    case LegendPosition::kBottomRight:
      return {right, bottom};
    case LegendPosition::kBottomLeft:
      return {left, bottom};
    case LegendPosition::kOutsideRight:
      return {l.left + l.plot_w + 10, l.top};
    case LegendPosition::kTopRight:
      break;
  }
  return {right, top};
}

// How much of the drawn lines a legend box at `where` would cover: the series' points and
// points every 2 px along their segments that fall inside it (with a margin of 3 px).
int64_t Covered(const LineChart& chart, const Layout& l, LegendPosition where) {
  const auto [bx, by] = LegendOrigin(l, where);
  const double x0 = bx - 3, y0 = by - 3, x1 = bx + l.legend_w + 3, y1 = by + l.legend_h + 3;
  const auto inside = [&](double x, double y) { return x >= x0 && x <= x1 && y >= y0 && y <= y1; };
  int64_t covered = 0;
  for (const Series& s : chart.series) {
    bool have_previous = false;
    double px = 0, py = 0;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      const double cx = l.X(x), cy = l.Y(y);
      if (have_previous) {
        const int steps = std::max(1, static_cast<int>(std::hypot(cx - px, cy - py) / 2));
        for (int i = 1; i < steps; ++i) {
          const double t = static_cast<double>(i) / steps;
          covered += inside(px + t * (cx - px), py + t * (cy - py));
        }
      }
      covered += inside(cx, cy);
      px = cx, py = cy, have_previous = true;
    }
  }
  return covered;
}

}  // namespace

int Axis::ticks() const { return static_cast<int>(std::lround((max - min) / step)) + 1; }

Axis NiceAxis(double lo, double hi, int target_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi < lo) std::swap(lo, hi);
  Axis axis;
  axis.step = TickStep(hi - lo, std::max(1, target_ticks));
  if (hi == lo) axis.step = TickStep(std::max(std::fabs(lo), 1.0), std::max(1, target_ticks));
  // A bound within rounding of a tick stays on it (0.30000000000000004 ends at 0.3).
  const double slack = 1e-9;
  axis.min = std::floor(lo / axis.step + slack) * axis.step;
  axis.max = std::ceil(hi / axis.step - slack) * axis.step;
  if (axis.max <= axis.min) axis.max = axis.min + axis.step;
  return axis;
}

LegendPosition PlaceLegend(const LineChart& chart) {
  const Layout l = LayOut(chart, /*legend_outside=*/false);
  for (const LegendPosition where : {LegendPosition::kTopRight, LegendPosition::kTopLeft,
                                     LegendPosition::kBottomRight, LegendPosition::kBottomLeft}) {
    if (Covered(chart, l, where) == 0) return where;
  }
  return LegendPosition::kOutsideRight;
}

std::string RenderSvg(const LineChart& chart) {
  const LegendPosition legend = PlaceLegend(chart);
  const Layout l = LayOut(chart, legend == LegendPosition::kOutsideRight);
  const double plot_w = l.plot_w, plot_h = l.plot_h;
  const auto px = [&](double x) { return l.X(x); };
  const auto py = [&](double y) { return l.Y(y); };
  const double x_min = l.x_min, x_max = l.x_max;

  std::string svg;
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                chart.width, chart.height, chart.width, chart.height);
  svg += buf;
  std::snprintf(buf, sizeof(buf),
                "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">%s</text>\n",
                chart.width / 2, Escape(chart.title).c_str());
  svg += buf;
  // Grid and ticks; the y axis ends on a labelled tick.
  const double x_step = TickStep(x_max - x_min, 8);
  for (double x = std::ceil(x_min / x_step) * x_step; x <= x_max + x_step * 1e-9; x += x_step) {
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                  px(x), kTop, px(x), kTop + plot_h, px(x), kTop + plot_h + 16, Number(x).c_str());
    svg += buf;
  }
  for (int i = 0; i < l.y.ticks(); ++i) {
    const double y = l.y.min + i * l.y.step;
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                  "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                  kLeft, py(y), kLeft + plot_w, py(y), kLeft - 6, py(y) + 4,
                  Number(std::fabs(y) < l.y.step * 1e-9 ? 0.0 : y).c_str());
    svg += buf;
  }
  std::snprintf(buf, sizeof(buf),
                "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                "stroke=\"#444\"/>\n"
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n"
                "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">%s"
                "</text>\n",
                kLeft, kTop, plot_w, plot_h, kLeft + plot_w / 2, chart.height - 12,
                Escape(chart.x_label).c_str(), kTop + plot_h / 2, Escape(chart.y_label).c_str());
  svg += buf;
  // Series, then the legend over a white box so that grid lines do not run through it.
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const Series& s = chart.series[i];
    const char* colour = kColours[i % std::size(kColours)];
    std::string path;
    for (const auto& [x, y] : s.points) {
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      std::snprintf(buf, sizeof(buf), "%s%.1f,%.1f", path.empty() ? "" : " ", px(x), py(y));
      path += buf;
    }
    if (!path.empty()) {
      svg += "<polyline fill=\"none\" stroke=\"" + std::string(colour) +
             "\" stroke-width=\"2\" points=\"" + path + "\"/>\n";
    }
  }
  if (!chart.series.empty()) {
    const auto [bx, by] = LegendOrigin(l, legend);
    std::snprintf(buf, sizeof(buf),
                  "<g class=\"legend\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                  "fill=\"white\" fill-opacity=\"0.9\" stroke=\"#ccc\"/>\n",
                  bx, by, l.legend_w, l.legend_h);
    svg += buf;
    for (size_t i = 0; i < chart.series.size(); ++i) {
      const char* colour = kColours[i % std::size(kColours)];
      const double ly = by + kLegendPad / 2 + kLegendRow * (static_cast<double>(i) + 1) - 4;
      std::snprintf(buf, sizeof(buf),
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"3\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                    bx + 4, ly - 4, bx + 22, ly - 4, colour, bx + kLegendSwatch, ly,
                    Escape(chart.series[i].name).c_str());
      svg += buf;
    }
    svg += "</g>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace towerstream::plot
