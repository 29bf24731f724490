// Registers the evaluate-stage subcommands (filled in by the evaluate stage).
#include <CLI/CLI.hpp>

#include "stages/commands.h"

namespace kvsvd {
void register_evaluate_commands(CLI::App& app) { (void)app; }
}  // namespace kvsvd
