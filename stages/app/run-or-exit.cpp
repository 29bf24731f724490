#include "stages/app/run-or-exit.h"

#include <CLI/CLI.hpp>

#include "core/util/cli-run.h"

namespace kvsvd {

void run_or_exit(const std::string& name, const std::function<void()>& body) {
  const int rc = run_command(name, body);
  if (rc != 0) throw CLI::RuntimeError(rc);
}

}  // namespace kvsvd
