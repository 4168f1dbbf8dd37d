// Validators, error lines and parse-error handling shared by every towerstream subcommand.
#include "services/towerstream/cli_support.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>

namespace towerstream::cli {
namespace {

// CLI11 checks values before converting them, so a validator sees the text as typed.
std::optional<double> ParseNumber(const std::string& text) {
  if (text.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || std::isnan(value)) {
    return std::nullopt;
  }
  return value;
}

// A bound as a person writes it: 65535, 0.5, 1e-06.
std::string FormatBound(double value) {
  char text[32];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(text, sizeof(text), "%.0f", value);
  } else {
    std::snprintf(text, sizeof(text), "%g", value);
  }
  return text;
}

std::string NotANumber(const std::string& input) { return "must be a number, got '" + input + "'"; }

// "NAME: must ..." reads better as "NAME must ..." (CLI11 joins the option's name and the
// validator's message with ": ").
std::string Polish(std::string message) {
  const size_t colon = message.find(": must ");
  if (colon != std::string::npos && message.rfind("-", 0) == 0 && message.find(' ') == colon + 1) {
    message.erase(colon, 1);
  }
  return message;
}

}  // namespace

CLI::Validator Positive() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        const std::optional<double> value = ParseNumber(input);
        if (!value) return NotANumber(input);
        if (!(*value > 0)) return "must be positive, got " + input;
        return {};
      },
      "POSITIVE");
}

CLI::Validator NonNegative() {
  return CLI::Validator(
      [](std::string& input) -> std::string {
        const std::optional<double> value = ParseNumber(input);
        if (!value) return NotANumber(input);
        if (*value < 0) return "must not be negative, got " + input;
        return {};
      },
      "NONNEGATIVE");
}

CLI::Validator InRange(double min, double max) {
  const std::string range = "[" + FormatBound(min) + ", " + FormatBound(max) + "]";
  return CLI::Validator(
      [range, min, max](std::string& input) -> std::string {
        const std::optional<double> value = ParseNumber(input);
        if (!value) return NotANumber(input);
        if (*value < min || *value > max) return input + " is not in " + range;
        return {};
      },
      "in " + range);
}

std::string ErrorLine(std::string_view command, std::string_view message) {
  // Strip what the message repeats of the prefix: "towerstream ", then "COMMAND: " or
  // "COMMAND " before a flag ("evaluate --online: ...").
  std::string_view rest = message;
  if (rest.starts_with("towerstream ")) rest.remove_prefix(std::string_view("towerstream ").size());
  if (!command.empty() && rest.starts_with(command)) {
    const std::string_view after = rest.substr(command.size());
    if (after.starts_with(": ")) {
      rest = after.substr(2);
    } else if (after.starts_with(" --")) {
      rest = after.substr(1);
    } else {
      rest = message;
    }
  } else {
    rest = message;
  }
  std::string line = "towerstream ";
  if (!command.empty()) line.append(command).append(": ");
  line.append(rest);
  return line;
}

int Fail(std::string_view command, int code, std::string_view message) {
  std::fprintf(stderr, "%s\n", ErrorLine(command, message).c_str());
  return code;
}

int HandleParseError(CLI::App& app, const CLI::ParseError& error, const char* first_arg) {
  const std::string name = error.get_name();
  if (name == "CallForHelp" || name == "CallForAllHelp" || name == "CallForVersion" ||
      error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
    return app.exit(error);
  }
  const std::vector<CLI::App*> parsed =
      app.get_subcommands([](CLI::App* sub) { return sub->parsed(); });
  if (parsed.empty()) {
    const std::vector<std::string> extras = app.remaining();
    if (first_arg != nullptr && first_arg[0] != '-' && first_arg[0] != '\0') {
      std::fprintf(stderr, "towerstream: unknown subcommand '%s' (see towerstream --help)\n",
                   first_arg);
    } else if (!extras.empty()) {
      std::fprintf(stderr, "towerstream: unexpected argument '%s' (see towerstream --help)\n",
                   extras.front().c_str());
    } else if (name == "RequiredError") {
      std::fprintf(stderr, "towerstream: a subcommand is required (see towerstream --help)\n");
    } else {
      std::fprintf(stderr, "towerstream: %s (see towerstream --help)\n",
                   Polish(error.what()).c_str());
    }
    return kUsageExit;
  }
  // CLI11 checks required options before it complains about unknown ones, so a mistyped flag
  // would read "--data is required": name what was not understood first.
  CLI::App* sub = parsed.front();
  const std::vector<std::string> extras = sub->remaining();
  std::string message = Polish(error.what());
  if (name == "ConversionError") {
    // CLI11 says "Could not convert: --epochs = 1.5": say what was expected instead.
    const std::string what = error.what();
    const size_t colon = what.find(": "), equals = what.find(" = ");
    if (colon != std::string::npos && equals != std::string::npos && equals > colon) {
      const std::string option = what.substr(colon + 2, equals - colon - 2);
      const std::string value = what.substr(equals + 3);
      message = option + ": cannot read '" + value + "'";
      if (const CLI::Option* o = sub->get_option_no_throw(option); o != nullptr) {
        // The type name without the validator's description: "N" of "N:POSITIVE".
        const std::string type = o->get_type_name().substr(0, o->get_type_name().find(':'));
        if (!type.empty()) message += " (expected " + type + ")";
      }
    }
  }
  if (!extras.empty()) {
    message = extras.size() == 1 ? "unexpected argument" : "unexpected arguments";
    for (const std::string& extra : extras) message += " '" + extra + "'";
  }
  const std::string command = sub->get_name();
  std::fprintf(stderr, "%s (see towerstream %s --help)\n", ErrorLine(command, message).c_str(),
               command.c_str());
  return kUsageExit;
}

}  // namespace towerstream::cli
