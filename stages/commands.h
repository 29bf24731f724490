// Every `kvsvd` subcommand registers itself through one of these (one per stage folder).
#pragma once

namespace CLI {
class App;
}

namespace kvsvd {
void register_generate_commands(CLI::App& app);  // generate, tokenize
void register_profile_commands(CLI::App& app);   // profile, inspect
void register_evaluate_commands(CLI::App& app);  // evaluate
void register_report_commands(CLI::App& app);    // report
void register_sweep_commands(CLI::App& app);     // sweep plan|args
void register_bench_commands(CLI::App& app);     // bench prefill|decode (scripts/gpu-bench.sh)
}  // namespace kvsvd
