// Registers the profile-stage subcommands: `profile` (per-head bases -> HDF5 store) and `inspect`.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "core/util/error.h"
#include "mpi/abort.h"
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

// Flag values as given on the command line (the table's keys); only flags that were given
// override the YAML config.
struct ProfileFlags {
  std::map<std::string, std::string> values;
  std::map<std::string, CLI::Option*> options;
};

void register_profile(CLI::App& app) {
  auto flags = std::make_shared<ProfileFlags>();
  CLI::App* cmd = app.add_subcommand(
      "profile",
      "per-layer, per-KV-head low-rank bases (weight SVD or activation PCA) -> HDF5 profile "
      "store; run under mpirun -np N to shard layers (and calibration windows) over ranks");
  auto config = std::make_shared<std::string>();
  cmd->add_option("--config", *config,
                  "YAML profile config (config/profiles/*.yaml); its keys are these flags' names "
                  "with '_' (flags given here override it)");
  for (const auto& spec : profile_option_table()) {
    const std::string flag = profile_flag_name(spec);
    std::string& slot = flags->values[spec.key];
    flags->options[spec.key] = spec.is_flag ? cmd->add_flag(flag, slot, spec.help)
                                            : cmd->add_option(flag, slot, spec.help);
  }
  cmd->footer(
      "Environment: KVSVD_MODEL (default --model); KVSVD_FAULT_INJECT=profile:rank<R>:layer<L>[:hang] "
      "(tests: rank R fails, or stalls, before layer L). The store is written as OUT.partial and "
      "renamed when complete; OUT.lock (flock) keeps a second job off the same OUT. SIGTERM stops "
      "at the next round with exit status 143; --resume continues an interrupted .partial of the "
      "same model and config.");
  cmd->callback([flags, config]() {
    std::signal(SIGTERM, on_sigterm);
    MpiEnv env;
    bool interrupted = false;
    const int rc = run_mpi_command("profile", [&] {
      ProfileOptions o;
      if (!config->empty()) apply_profile_config(o, *config);
      for (const auto& spec : profile_option_table()) {
        if (flags->options[spec.key]->count() == 0) continue;
        spec.set(o, flags->values[spec.key], profile_flag_name(spec));
      }
      const Comm comm;
      const ProfileRunResult res = run_profile(o, comm, &g_stop);
      if (res.interrupted) {
        interrupted = true;  // on every rank: the stop verdict is collective
        if (comm.is_root()) {
          std::fprintf(stderr,
                       "kvsvd profile: %s; %s keeps every finished layer: rerun with --resume "
                       "(exit status %d)\n",
                       res.stop_message.c_str(), (o.out + ".partial").c_str(), kInterruptedStatus);
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
