// A tiny `--name value` flag parser for the benchmarks, which must build with LibTorch alone
// (the core-only build of GPU machines has no CLI11).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

namespace towerstream::bench {

class BenchFlags {
 public:
  explicit BenchFlags(std::string program) : program_(std::move(program)) {}

  void Add(std::string name, int64_t* value, std::string help) {
    flags_.push_back({std::move(name), value, std::move(help)});
  }
  void Add(std::string name, double* value, std::string help) {
    flags_.push_back({std::move(name), value, std::move(help)});
  }
  void Add(std::string name, std::string* value, std::string help) {
    flags_.push_back({std::move(name), value, std::move(help)});
  }

  // Fills the registered values from argv; prints the usage and returns false on --help, an
  // unknown flag, a missing value or a number that does not parse.
  bool Parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      const Flag* flag = Find(arg);
      if (flag == nullptr || i + 1 >= argc) {
        if (arg != "--help")
          std::fprintf(stderr, "%s: bad argument '%s'\n", program_.c_str(), argv[i]);
        PrintUsage();
        return false;
      }
      const char* text = argv[++i];
      char* end = nullptr;
      if (auto* v = std::get_if<int64_t*>(&flag->value)) {
        **v = std::strtoll(text, &end, 10);
      } else if (auto* d = std::get_if<double*>(&flag->value)) {
        **d = std::strtod(text, &end);
      } else {
        *std::get<std::string*>(flag->value) = text;
        continue;
      }
      if (end == text || *end != '\0') {
        std::fprintf(stderr, "%s: %s: '%s' is not a number\n", program_.c_str(), arg.c_str(), text);
        return false;
      }
    }
    return true;
  }

  void PrintUsage() const {
    std::fprintf(stderr, "usage: %s [flags]\n", program_.c_str());
    for (const Flag& f : flags_) {
      std::string now;
      if (auto* v = std::get_if<int64_t*>(&f.value)) now = std::to_string(**v);
      if (auto* d = std::get_if<double*>(&f.value)) now = std::to_string(**d);
      if (auto* s = std::get_if<std::string*>(&f.value)) now = **s;
      std::fprintf(stderr, "  %-18s %s (default %s)\n", f.name.c_str(), f.help.c_str(),
                   now.c_str());
    }
  }

 private:
  struct Flag {
    std::string name;
    std::variant<int64_t*, double*, std::string*> value;
    std::string help;
  };
  const Flag* Find(const std::string& name) const {
    for (const Flag& f : flags_) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

  std::string program_;
  std::vector<Flag> flags_;
};

}  // namespace towerstream::bench
