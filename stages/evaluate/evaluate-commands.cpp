// Registers the evaluate-stage subcommand: `kvsvd evaluate` (flags generated from the options
// table of evaluate-options.h), run as an MPI stage with SIGTERM-driven checkpointing.
#include <CLI/CLI.hpp>
#include <mpi.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/kv/methods.h"
#include "core/kv/rank-policy.h"
#include "core/util/error.h"
#include "mpi/abort.h"
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

// The flag values as CLI11 leaves them; applied over the YAML config after parsing.
struct CliState {
  std::map<std::string, std::vector<std::string>> values;  // key -> values
  std::map<std::string, bool> flags;                       // key -> flag value
  std::map<std::string, CLI::Option*> options;             // key -> option
};

std::string help_for(const EvaluateOptionSpec& s) {
  if (std::string(s.key) == "policy")
    return "svd per-token value-rank policies (repeat the flag for several):\n" +
           rank_policies_help();
  if (std::string(s.key) == "method")
    return std::string(s.help) + ":\n" + kv_methods_help();
  return s.help;
}

EvaluateOptions resolve_options(const CliState& st) {
  EvaluateOptions o;
  auto cfg = st.values.find("config");
  if (cfg != st.values.end() && st.options.at("config")->count() > 0)
    apply_evaluate_config(o, cfg->second.at(0));
  for (const auto& spec : evaluate_option_table()) {
    const CLI::Option* opt = st.options.at(spec.key);
    if (opt->count() == 0) continue;
    if (spec.arity == EvaluateOptionSpec::Arity::Flag)
      apply_evaluate_option(o, spec, {st.flags.at(spec.key) ? "true" : "false"}, spec.flag);
    else
      apply_evaluate_option(o, spec, st.values.at(spec.key), spec.flag);
  }
  if (o.model.empty())
    if (const char* env = std::getenv("KVSVD_MODEL")) o.model = env;
  o.command_line = process_command_line();
  return o;
}

void run(const CliState& st) {
  MpiEnv env;
  std::signal(SIGTERM, evaluate_on_sigterm);
  bool interrupted = false;
  int64_t computed = 0;
  const int rc = run_mpi_command("evaluate", [&] {
    const EvaluateOptions o = resolve_options(st);
    Comm comm(MPI_COMM_WORLD);
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
  auto st = std::make_shared<CliState>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate",
      "Perplexity, KL, top-1 and generation agreement, KV bytes and speed of compressed KV "
      "caches against the full cache on the same windows (MPI: windows sharded over ranks). "
      "Prints the summary JSON; --out writes summary.json, windows.csv, command.txt");
  st->options["config"] = cmd->add_option("--config", st->values["config"],
                                          "YAML of evaluate keys (config/eval/*.yaml); flags "
                                          "override it");
  for (const auto& spec : evaluate_option_table()) {
    CLI::Option* opt = nullptr;
    if (spec.arity == EvaluateOptionSpec::Arity::Flag) {
      // --pack / --no-pack style: the negated name sets false.
      const std::string name = std::string(spec.flag) + ",!--no-" + (spec.flag + 2);
      opt = cmd->add_flag(name, st->flags[spec.key], help_for(spec));
    } else {
      opt = cmd->add_option(spec.flag, st->values[spec.key], help_for(spec));
      if (spec.arity == EvaluateOptionSpec::Arity::One) opt->expected(1);
    }
    st->options[spec.key] = opt;
  }
  cmd->callback([st]() { run(*st); });
}

}  // namespace kvsvd
