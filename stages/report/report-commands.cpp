// Registers the report-stage subcommands (filled in by the report stage).
#include <CLI/CLI.hpp>

#include "stages/commands.h"

namespace kvsvd {
void register_report_commands(CLI::App& app) { (void)app; }
}  // namespace kvsvd
