// MLflow parameter values as a person wrote them: numbers in their shortest round-trip form
// (0.05, not the float's 0.05000000074505806 widened to double), dates as YYYY-MM-DD.
// Pure functions; thread-safe.
#pragma once

#include <string>

namespace towerstream::mlflow {

// The shortest text that reads back as the same float: 0.05f -> "0.05", 1e-06f -> "1e-06".
std::string FormatParam(float value);
// The shortest text that reads back as the same double: 0.002 -> "0.002", 4.0 -> "4".
std::string FormatParam(double value);

// A number that went through JSON, where a float became the nearest double: written as the
// float it came from when it is exactly one (the widened 0.05f -> "0.05"), else as the double.
// Only a double exactly equal to a float is ever shortened, and that float reads back to it.
std::string FormatJsonNumberParam(double value);

}  // namespace towerstream::mlflow
