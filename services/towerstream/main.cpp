// towerstream: one binary, one subcommand per tool or service (DESIGN.md §5).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  CLI::App app{
      "towerstream: train a two-tower retrieval model continuously from a stream of purchases"};
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
