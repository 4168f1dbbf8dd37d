// What every subcommand shares at the command line: validators whose messages read well, the
// one place errors are printed with their `towerstream CMD: ` prefix, and the handling of
// CLI11's parse errors (every usage error exits 2, as each --help says).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

namespace towerstream::cli {

// Replacements for CLI::PositiveNumber, NonNegativeNumber and Range, whose messages print the
// limits of double in full ("not in range 0.000000 to 1797693134862315708145...").
// A failed check reads "--lr must be positive, got -1" or "--port: 70000 is not in [0, 65535]".
CLI::Validator Positive();
CLI::Validator NonNegative();
CLI::Validator InRange(double min, double max);

// The process exit status of a usage error (bad flags, a bad value, a missing subcommand).
inline constexpr int kUsageExit = 2;

// Prints "towerstream COMMAND: MESSAGE" on stderr and returns `code`. A message that already
// starts with the command's name (libraries name their context, e.g. "evaluate: ..." or
// "evaluate --online: ...") keeps the prefix once.
int Fail(std::string_view command, int code, std::string_view message);

// The line Fail prints, without the trailing newline (for tests and callers that log it).
std::string ErrorLine(std::string_view command, std::string_view message);

// Turns a parse error of `app` (thrown by app.parse) into output and the process exit status:
// help and version as CLI11 prints them (exit 0); everything else one line on stderr with the
// subcommand's prefix and a pointer to its --help, exit 2. `first_arg` is argv[1] or null,
// to name an unknown subcommand.
int HandleParseError(CLI::App& app, const CLI::ParseError& error, const char* first_arg);

}  // namespace towerstream::cli
