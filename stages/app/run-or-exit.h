// Runs a non-MPI subcommand's body from its CLI11 callback: errors are printed by run_command
// (core/util/cli-run.h) and the exit status travels back through CLI11.
#pragma once
#include <functional>
#include <string>

namespace kvsvd {

// Throws CLI::RuntimeError(status), which main() returns, when the body fails.
void run_or_exit(const std::string& name, const std::function<void()>& body);

}  // namespace kvsvd
