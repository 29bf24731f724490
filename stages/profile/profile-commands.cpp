// Registers the profile-stage subcommands (filled in by the profile stage).
#include <CLI/CLI.hpp>

#include "stages/commands.h"

namespace kvsvd {
void register_profile_commands(CLI::App& app) { (void)app; }
}  // namespace kvsvd
