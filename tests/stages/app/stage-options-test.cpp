// The stages' flags declared once (stages/app): every config under config/ reads into the evaluate
// and profile apps, a key that is not a flag fails naming file, line and key, flags beat the
// config and the config beats defaults and KVSVD_MODEL, and the sweep planner refuses a run or a
// profile job that the stage's own app refuses.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "stages/evaluate/evaluate-options.h"
#include "stages/profile/profile-options.h"
#include "stages/sweep/sweep-plan.h"
#include "support/catch.h"
#include "support/error-text.h"
#include "support/temp-dir.h"

using namespace kvsvd;
using kvsvd::test::contains;
using kvsvd::test::error_of;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> yaml_files(const std::string& sub) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(KVSVD_SOURCE_DIR) / "config" / sub))
    if (e.path().extension() == ".yaml") out.push_back(e.path().string());
  return out;
}

}  // namespace

TEST_CASE("options: every config under config/ parses through its stage's app") {
  const auto evals = yaml_files("eval");
  const auto profiles = yaml_files("profiles");
  const auto sweeps = yaml_files("sweeps");
  REQUIRE(evals.size() >= 2);
  REQUIRE(profiles.size() >= 3);
  REQUIRE(sweeps.size() >= 2);
  for (const auto& p : evals) {
    INFO(p);
    // svd reads a store, which the scripts give on the command line.
    const EvaluateOptions o = parse_evaluate_args({"--config", p, "--store", "s.h5"});
    CHECK(o.config == p);
    CHECK(!o.model.empty());
    CHECK(o.seq_len == 256);  // both eval configs
    // List-valued keys given as YAML lists.
    CHECK(o.methods == std::vector<std::string>{"full", "svd", "chunked"});
    CHECK(o.policies == std::vector<std::string>{"position", "uniform:high"});
    CHECK(o.compression_ratios == std::vector<double>{4.0});
    CHECK(o.value_ranks == std::vector<std::string>{""});  // "": the store's named ranks
  }
  for (const auto& p : profiles) {
    INFO(p);
    const ProfileOptions o = parse_profile_args({"--config", p, "--model", "m", "--out", "s.h5"});
    CHECK(o.config == p);
    CHECK(o.store_fused);  // every profile config sets it
  }
  for (const auto& p : sweeps) {
    INFO(p);
    SweepPlanOptions opt;
    opt.base_dir = KVSVD_SOURCE_DIR;  // the sweeps' paths are relative to the repository root
    const Manifest m = plan_sweep(p, opt);
    CHECK(!m.runs.empty());
  }
}

TEST_CASE("options: a config key that is not a flag fails naming the file, line and key") {
  test::TempDir dir("kvsvd-options");
  const std::string eval = dir.write("eval.yaml", "seq_len: 64\nseq_lenn: 3\n");
  const std::string e = error_of([&] { parse_evaluate_args({"--config", eval}); });
  INFO(e);
  CHECK(contains(e, eval + ":2:"));
  CHECK(contains(e, "unknown key 'seq_lenn'"));
  CHECK(contains(e, "seq_len"));  // the valid keys are listed

  const std::string prof = dir.write("profile.yaml", "method: weight_svd\n\nkey_rnak: 4\n");
  const std::string p = error_of(
      [&] { parse_profile_args({"--config", prof, "--model", "m", "--out", "s.h5"}); });
  INFO(p);
  CHECK(contains(p, prof + ":3:"));
  CHECK(contains(p, "unknown key 'key_rnak'"));

  // --help and --config are flags but not keys.
  const std::string cfg = dir.write("config.yaml", "config: other.yaml\n");
  CHECK(contains(error_of([&] { parse_evaluate_args({"--config", cfg}); }), "unknown key 'config'"));
  // A value the flag refuses names the file, line and key.
  const std::string bad = dir.write("bad.yaml", "model: m\ndataset: d\nchunk_size: [32, 0]\n");
  const std::string b = error_of([&] { parse_evaluate_args({"--config", bad}); });
  INFO(b);
  CHECK(contains(b, bad + ":3: chunk_size must be > 0, got 0"));
}

TEST_CASE("options: flags beat the config, the config beats defaults and KVSVD_MODEL") {
  test::TempDir dir("kvsvd-options");
  const std::string cfg = dir.write(
      "c.yaml", "model: from-config\ndataset: d.json\nseq_len: 64\nmethod: [full, chunked]\n"
                "pack: false\nkey_rank: 8\n");
  setenv("KVSVD_MODEL", "from-env", 1);
  EvaluateOptions o = parse_evaluate_args({"--config", cfg, "--seq-len", "32", "--method", "svd",
                                           "--store", "s.h5", "--key-rank", "0,4"});
  CHECK(o.model == "from-config");
  CHECK(o.seq_len == 32);
  CHECK(o.methods == std::vector<std::string>{"svd"});  // a list flag replaces the config's list
  CHECK(o.key_ranks == std::vector<int64_t>{0, 4});     // comma list; 0 is the store's rank
  CHECK_FALSE(o.pack);
  CHECK(o.stride == 0);  // default
  // Without the config's model, KVSVD_MODEL fills it; a flag beats both.
  CHECK(parse_evaluate_args({"--dataset", "d.json"}).model == "from-env");
  CHECK(parse_evaluate_args({"--dataset", "d.json", "--model", "flag"}).model == "flag");
  unsetenv("KVSVD_MODEL");
  // Repeated methods run once; the policy is kept in its canonical form.
  o = parse_evaluate_args({"--model", "m", "--dataset", "d", "--method", "full,chunked",
                           "--method", "chunked", "--policy", " uniform:high "});
  CHECK(o.methods == std::vector<std::string>{"full", "chunked"});
  CHECK(o.policies == std::vector<std::string>{"uniform:high"});
  // The provenance JSON is keyed like the YAML.
  const auto j = evaluate_options_to_json(o);
  CHECK(j.at("method") == nlohmann::json({"full", "chunked"}));
  CHECK(j.at("seq_len") == 0);
  CHECK(j.at("config") == "");
  // A bad flag value names the flag.
  CHECK(contains(error_of([&] { parse_evaluate_args({"--model", "m", "--dataset", "d", "--method", "svdd"}); }),
                 "--method: unknown KV-cache method 'svdd'"));
  CHECK(contains(error_of([&] { parse_evaluate_args({"--model", "m", "--dataset", "d", "--chunk-size", "0"}); }),
                 "--chunk-size must be > 0, got 0"));
  CHECK_THROWS_AS(parse_evaluate_args({"--model", "m", "--dataset", "d", "--no-such-flag"}),
                  CLI::ParseError);
}

TEST_CASE("options: the sweep planner refuses a job its stage's app refuses") {
  test::TempDir dir("kvsvd-options");
  fs::create_directories(dir.path / "model");
  dir.write("model/config.json", "{}");
  dir.write("a.txt", "alpha");
  const std::string head =
      "name: t\nmodel: model\ndatasets:\n  - {name: a, path: a.txt, format: text}\n";
  SweepPlanOptions opt;
  opt.base_dir = dir.path.string();
  auto plan_error = [&](const std::string& yaml) {
    return error_of([&] { plan_sweep_text(yaml, "sweep.yaml", opt); });
  };
  // Each value passes its own flag; the whole run fails evaluate's check across flags.
  std::string e = plan_error(head + "runs:\n  - {method: full}\n  - {name: q0, method: quant, kv_bits: 0}\n");
  INFO(e);
  CHECK(contains(e, "sweep.yaml:7:"));  // the run's line
  CHECK(contains(e, "run 'q0'"));
  CHECK(contains(e, "--method quant needs --kv-bits"));
  e = plan_error(head + "base:\n  stride: 16\ngrid:\n  method: [full]\n");
  INFO(e);
  CHECK(contains(e, "--stride needs --seq-len"));
  // A profile job that `kvsvd profile` would refuse.
  e = plan_error(head + "profiles:\n  - {name: p, method: activation_pca}\ngrid:\n  method: [svd]\n");
  INFO(e);
  CHECK(contains(e, "sweep.yaml:6:"));
  CHECK(contains(e, "profile 'p'"));
  CHECK(contains(e, "needs calibration text"));
  // One rule per key: key_rank 0 (the store's rank) is valid in a sweep as in evaluate, -1 is not.
  CHECK(plan_error(head + "profiles:\n  - {name: p}\nruns:\n  - {method: svd, key_rank: 0}\n") == "");
  e = plan_error(head + "profiles:\n  - {name: p}\nruns:\n  - {method: svd, key_rank: -1}\n");
  INFO(e);
  CHECK(contains(e, "sweep.yaml:8: key_rank must be >= 0, got -1"));
  // The data formats come from the one format table.
  e = plan_error("name: t\nmodel: model\ndatasets:\n  - {name: a, path: a.txt, format: csv}\n" +
                 std::string("grid:\n  method: [full]\n"));
  INFO(e);
  CHECK(contains(e, "sweep.yaml:4: dataset_format: unknown data format 'csv' (valid: ids, text, jsonl)"));
}

TEST_CASE("options: --help lists every flag, with its default") {
  CLI::App app;
  EvaluateOptions o;
  add_evaluate_options(app, o);
  const std::string help = app.help();
  size_t n = 0;
  for (const CLI::Option* opt : app.get_options()) {
    const std::string flag = "--" + opt->get_lnames().at(0);
    INFO(flag);
    CHECK(contains(help, flag));
    ++n;
  }
  CHECK(n >= 30);
  CHECK(app.get_option("--seq-len")->get_default_str() == "0");
  CHECK(app.get_option("--dtype")->get_default_str() == "float32");
  CHECK(app.get_option("--quant-group")->get_default_str() == "32");
  CHECK(contains(help, "KVSVD_MODEL"));  // --model's environment variable

  CLI::App papp;
  ProfileOptions p;
  add_profile_options(papp, p);
  CHECK(papp.get_option("--method")->get_default_str() == "weight_svd");
  CHECK(papp.get_option("--seq-len")->get_default_str() == "256");
}
