// The `kvsvd` command line: one binary, one CLI11 subcommand per stage or tool.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/util/error.h"
#include "core/util/version.h"
#include "mpi/collective-error.h"
#include "stages/commands.h"

namespace {

// A bad flag of an MPI stage is seen alike by every rank, before MPI starts: the launcher's rank 0
// alone prints it, and every process exits with status 2 (no MPI_Abort, no rank left waiting).
// Other commands always print theirs.
int flag_error(const CLI::App& app, const std::string& msg) {
  std::string cmd;
  bool mpi_stage = false;
  for (const CLI::App* sub : app.get_subcommands()) {
    cmd += " " + sub->get_name();
    mpi_stage = mpi_stage || sub->get_name() == "profile" || sub->get_name() == "evaluate";
  }
  if (!mpi_stage || kvsvd::launcher_rank() == 0) {
    std::fprintf(stderr, "kvsvd%s: error: %s\nRun with --help for more information.\n",
                 cmd.c_str(), msg.c_str());
    std::fflush(stderr);
  }
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  // Where LibTorch uses MKL (the GPU box's CPU path), MKL's default lets it use fewer threads when
  // the machine is busy, and a GEMM split across a different number of threads rounds
  // differently: a resumed run then differed from an uninterrupted one by 1e-7 (relative) there.
  // Set before any MKL call; a value the user set wins. Harmless where MKL is absent.
  setenv("MKL_DYNAMIC", "FALSE", /*overwrite=*/0);
  CLI::App app{"kvsvd: low-rank (SVD) KV-cache compression for Llama-family models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(KVSVD_VERSION) + " (" + KVSVD_GIT_REV + ")");
  kvsvd::register_generate_commands(app);
  kvsvd::register_profile_commands(app);
  kvsvd::register_evaluate_commands(app);
  kvsvd::register_report_commands(app);
  kvsvd::register_sweep_commands(app);
  kvsvd::register_bench_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {  // a command's own exit status (printed already)
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    return flag_error(app, e.what());
  } catch (const kvsvd::Error& e) {  // a flag value refused by its table (stages/app)
    return flag_error(app, e.what());
  }
  return 0;
}
