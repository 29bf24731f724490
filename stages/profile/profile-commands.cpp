// Registers the profile-stage subcommands: `profile` (per-head bases -> HDF5 store) and `inspect`.
#include <CLI/CLI.hpp>

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
#include "stages/profile/inspect-command.h"
#include "stages/profile/profile-options.h"
#include "stages/profile/profile-stage.h"

namespace kvsvd {
namespace {

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_sigterm(int) { g_stop = 1; }

// Exit status of a run stopped by SIGTERM (128 + 15, as for `evaluate`): jobs/stage-step.sh and
// Slurm scripts tell "requeue me with --resume" from a failure by it.
constexpr int kInterruptedStatus = 143;

void register_profile(CLI::App& app) {
  auto o = std::make_shared<ProfileOptions>();
  CLI::App* cmd = app.add_subcommand(
      "profile",
      "per-layer, per-KV-head low-rank bases (weight SVD or activation PCA) -> HDF5 profile "
      "store; run under mpirun -np N to shard layers (and calibration windows) over ranks");
  add_profile_options(*cmd, *o);
  cmd->footer(
      "Environment: KVSVD_FAULT_INJECT=profile:rank<R>:layer<L>[:hang] "
      "(tests: rank R fails, or stalls, before layer L). The store is written as OUT.partial and "
      "renamed when complete; OUT.lock (flock) keeps a second job off the same OUT. SIGTERM stops "
      "at the next round with exit status 143; --resume continues an interrupted .partial of the "
      "same model and config.");
  cmd->callback([cmd, o]() {
    std::signal(SIGTERM, on_sigterm);
    MpiEnv env;
    bool interrupted = false;
    const int rc = run_mpi_command("profile", [&] {
      const Comm comm;
      // The config and the checks give every rank the same verdict: one message, exit status 2.
      on_all_checked(comm, [&] { finish_profile_options(*cmd, *o); });
      const ProfileRunResult res = run_profile(*o, comm, &g_stop);
      if (res.interrupted) {
        interrupted = true;  // on every rank: the stop verdict is collective
        if (comm.is_root()) {
          std::fprintf(stderr,
                       "kvsvd profile: %s; %s keeps every finished layer: rerun with --resume "
                       "(exit status %d)\n",
                       res.stop_message.c_str(), (o->out + ".partial").c_str(), kInterruptedStatus);
          std::fflush(stderr);
        }
      }
    });
    if (interrupted) throw CLI::RuntimeError(kInterruptedStatus);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace

void register_profile_commands(CLI::App& app) {
  register_profile(app);
  register_inspect_command(app);
}

}  // namespace kvsvd
