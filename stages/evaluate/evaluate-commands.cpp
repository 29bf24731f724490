// Registers the evaluate-stage subcommand: `kvsvd evaluate` (flags declared in
// evaluate-options.cpp), run as an MPI stage with SIGTERM-driven checkpointing.
#include <CLI/CLI.hpp>
#include <mpi.h>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "core/util/error.h"
#include "mpi/abort.h"
#include "mpi/collective-error.h"
#include "mpi/comm.h"
#include "mpi/mpi-env.h"
#include "stages/commands.h"
#include "stages/evaluate/evaluate-options.h"
#include "stages/evaluate/evaluate-stage.h"
#include "stages/evaluate/run-output.h"

namespace kvsvd {
namespace {

// Set by SIGTERM (Slurm preemption, scancel): the stage stops between windows.
// (A plain function with internal linkage: an extern "C" name would clash with other stages'.)
volatile std::sig_atomic_t g_stop = 0;
void evaluate_on_sigterm(int) { g_stop = 1; }

// Exit status of a run stopped by SIGTERM (128 + 15, what a shell reports for a killed job), so
// that a Slurm script can tell "requeue me" from a failure.
constexpr int kInterruptedStatus = 143;

void run(CLI::App& cmd, EvaluateOptions& o) {
  MpiEnv env;
  std::signal(SIGTERM, evaluate_on_sigterm);
  bool interrupted = false;
  int64_t computed = 0;
  const int rc = run_mpi_command("evaluate", [&] {
    Comm comm(MPI_COMM_WORLD);
    // The config and the checks give every rank the same verdict: one message, exit status 2.
    on_all_checked(comm, [&] { finish_evaluate_options(cmd, o); });
    o.command_line = process_command_line();
    EvaluateResult res = run_evaluate_stage(o, comm, &g_stop);
    computed = res.windows_computed;
    if (res.interrupted) {
      interrupted = true;
      std::fprintf(stderr,
                   "kvsvd evaluate [rank %d/%d]: stopped by SIGTERM after %lld window(s) of this "
                   "rank; finished windows are in %s/.partial: rerun with --resume\n",
                   comm.rank(), comm.size(), static_cast<long long>(computed),
                   o.out.empty() ? "(no --out)" : o.out.c_str());
      std::fflush(stderr);
      // Other ranks may be waiting in the gather: end the whole job now, with the status.
      if (comm.size() > 1) MPI_Abort(MPI_COMM_WORLD, kInterruptedStatus);
      return;
    }
    if (!comm.is_root()) return;
    nlohmann::json printed = res.summary;
    // The short form (`--method full --dataset ids.json`) reads these three at the top level.
    const auto& base = res.summary["results"][0];
    printed["nll_mean"] = base["nll_mean"];
    printed["perplexity"] = base["perplexity"];
    printed["tokens"] = base["scored_tokens"];
    std::printf("%s\n", printed.dump(2).c_str());
    std::fflush(stdout);
    if (o.progress) std::fprintf(stderr, "%s", summary_table(res.summary).c_str());
    if (!o.out.empty() && o.progress)
      std::fprintf(stderr, "evaluate: wrote %s/summary.json, windows.csv, command.txt\n",
                   o.out.c_str());
  });
  if (interrupted) throw CLI::RuntimeError(kInterruptedStatus);
  if (rc != 0) throw CLI::RuntimeError(rc);
}

}  // namespace

void register_evaluate_commands(CLI::App& app) {
  auto o = std::make_shared<EvaluateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate",
      "Perplexity, KL, top-1 and generation agreement, KV bytes and speed of compressed KV "
      "caches against the full cache on the same windows (MPI: windows sharded over ranks). "
      "Prints the summary JSON; --out writes summary.json, windows.csv, command.txt");
  add_evaluate_options(*cmd, *o);
  cmd->callback([cmd, o]() { run(*cmd, *o); });
}

}  // namespace kvsvd
