// Shortest round-trip parameter values with std::to_chars.
#include "common/mlflow/param_format.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace towerstream::mlflow {
namespace {

template <typename T>
std::string Shortest(T value) {
  char text[64];
  const auto [end, error] = std::to_chars(text, text + sizeof(text), value);
  if (error != std::errc()) return std::to_string(value);  // cannot happen at this size
  return std::string(text, end);
}

}  // namespace

std::string FormatParam(float value) { return Shortest(value); }
std::string FormatParam(double value) { return Shortest(value); }

std::string FormatJsonNumberParam(double value) {
  if (std::isfinite(value) && std::fabs(value) <= std::numeric_limits<float>::max()) {
    const auto narrow = static_cast<float>(value);
    if (static_cast<double>(narrow) == value) return Shortest(narrow);
  }
  return Shortest(value);
}

}  // namespace towerstream::mlflow
