#include "common/plot/line_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

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
    if (raw <= m * magnitude) return m * magnitude;
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

}  // namespace

std::string RenderSvg(const LineChart& chart) {
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
  if (y_max <= y_min) y_max = y_min + 1;
  const double plot_w = chart.width - kLeft - kRight, plot_h = chart.height - kTop - kBottom;
  const auto px = [&](double x) { return kLeft + (x - x_min) / (x_max - x_min) * plot_w; };
  const auto py = [&](double y) { return kTop + (1 - (y - y_min) / (y_max - y_min)) * plot_h; };

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
  // Grid and ticks.
  const double x_step = TickStep(x_max - x_min, 8), y_step = TickStep(y_max - y_min, 6);
  for (double x = std::ceil(x_min / x_step) * x_step; x <= x_max + x_step * 1e-9; x += x_step) {
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                  px(x), kTop, px(x), kTop + plot_h, px(x), kTop + plot_h + 16, Number(x).c_str());
    svg += buf;
  }
  for (double y = std::ceil(y_min / y_step) * y_step; y <= y_max + y_step * 1e-9; y += y_step) {
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e5e5e5\"/>"
                  "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                  kLeft, py(y), kLeft + plot_w, py(y), kLeft - 6, py(y) + 4, Number(y).c_str());
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
  // Series and legend.
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
    const double ly = kTop + 14 + 16.0 * static_cast<double>(i);
    std::snprintf(buf, sizeof(buf),
                  "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                  "stroke-width=\"3\"/><text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                  kLeft + plot_w - 150, ly - 4, kLeft + plot_w - 130, ly - 4, colour,
                  kLeft + plot_w - 124, ly, Escape(s.name).c_str());
    svg += buf;
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace towerstream::plot
