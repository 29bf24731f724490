// Runs a subcommand body: a kvsvd::Error (bad input) or any other exception is printed as
// "kvsvd <cmd>: error: ..." and turned into a non-zero exit. MPI stages use mpi/abort.h instead.
#pragma once
#include <functional>
#include <string>

namespace kvsvd {

// Returns the process exit code: 0, 2 for kvsvd::Error, 3 for anything else.
int run_command(const std::string& name, const std::function<void()>& body);

}  // namespace kvsvd
