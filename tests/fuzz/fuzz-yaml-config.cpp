// Fuzz target: the YAML configs. The same text goes to the profile config loader
// (config/profiles/*.yaml), the evaluate config loader (config/eval/*.yaml) and the sweep
// planner (config/sweeps/*.yaml, without checking that the named files exist).
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "stages/evaluate/evaluate-options.h"
#include "stages/profile/profile-options.h"
#include "stages/app/yaml-options.h"
#include "stages/sweep/sweep-plan.h"
#include "tests/fuzz/fuzz-input.h"

using namespace kvsvd;

namespace {
// FIXED FINDING (results/fuzz/long-run-2026-11-23.md, regressions/yaml-config/invalid-utf8-*):
// a YAML string value with invalid UTF-8 (a Latin-1 path, say) was accepted by the loaders, and
// the options' JSON then threw nlohmann type_error 316 when dumped (evaluate writes it into
// summary.json at the END of a run). yaml_string now refuses it naming the line. The sweep
// planner still reads a few scalars directly, so the dump stays tolerant of that one error.
void dump_options(const nlohmann::json& j) {
  try {
    (void)j.dump();
  } catch (const nlohmann::json::type_error& e) {
    if (e.id != 316) throw;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = (fuzz::scratch_dir() / "config.yaml").string();
  fuzz::write_file(path, data, size);
  // The configs are read into each stage's own CLI11 app, as `--config FILE` does.
  fuzz::expect_ok_or_error([&] {
    CLI::App app;
    ProfileOptions o;
    add_profile_options(app, o);
    parse_args(app, {});
    apply_yaml_config(app, path, "a profile config");
    dump_options(profile_options_to_json(o));
  });
  fuzz::expect_ok_or_error([&] {
    CLI::App app;
    EvaluateOptions o;
    add_evaluate_options(app, o);
    parse_args(app, {});
    apply_yaml_config(app, path, "an evaluate config");
    dump_options(evaluate_options_to_json(o));
  });
  fuzz::expect_ok_or_error([&] {
    SweepPlanOptions opt;
    opt.base_dir = fuzz::scratch_dir().string();
    opt.check_paths = false;
    (void)plan_sweep_text(std::string(reinterpret_cast<const char*>(data), size), path, opt);
  });
  return 0;
}
