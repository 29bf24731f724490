// The `kvsvd` command line: one binary, one CLI11 subcommand per stage or tool.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "core/util/version.h"
#include "stages/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"kvsvd: low-rank (SVD) KV-cache compression for Llama-family models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(KVSVD_VERSION) + " (" + KVSVD_GIT_REV + ")");
  kvsvd::register_generate_commands(app);
  kvsvd::register_profile_commands(app);
  kvsvd::register_evaluate_commands(app);
  kvsvd::register_report_commands(app);
  kvsvd::register_bench_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return 0;
}
