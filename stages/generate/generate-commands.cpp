// Registers the generate-stage subcommands (filled in by the generate stage).
#include <CLI/CLI.hpp>

#include "stages/commands.h"

namespace kvsvd {
void register_generate_commands(CLI::App& app) { (void)app; }
}  // namespace kvsvd
