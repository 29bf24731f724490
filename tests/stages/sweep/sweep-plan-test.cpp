// `kvsvd sweep plan` / `kvsvd sweep args`: grid and explicit expansion, shared profiles planned
// once, keys a method ignores, unknown keys and bad values reported with file and line.
#include <algorithm>
#include <set>

#include "support/catch.h"
#include "support/cli-harness.h"

using namespace report_test;

namespace {

// A model folder and two dataset files the plan can check for existence.
struct SweepDir : Scratch {
  explicit SweepDir(const std::string& tag) : Scratch(tag) {
    fs::create_directories(dir / "model");
    write(dir / "model/config.json", "{}");
    write(dir / "data/a.txt", "alpha");
    write(dir / "data/b.jsonl", "{\"text\": \"beta\"}\n");
  }
  // Plans `yaml` (written as sweep.yaml); returns the CLI result, manifest in m.json.
  CliResult plan(const std::string& yaml) const {
    write(dir / "sweep.yaml", yaml);
    return kvsvd({"sweep", "plan", "sweep.yaml", "--out", "m.json"}, dir);
  }
};

const char* kHead =
    "name: t\n"
    "model: model\n"
    "datasets:\n"
    "  - {name: a, path: data/a.txt, format: text}\n"
    "  - {name: b, path: data/b.jsonl, format: jsonl}\n";

std::vector<std::string> args_of(const nlohmann::json& j) { return j.at("args").get<std::vector<std::string>>(); }

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The value after `flag` in an argument list ("" when absent).
std::string flag_value(const std::vector<std::string>& v, const std::string& flag) {
  for (size_t i = 0; i + 1 < v.size(); ++i)
    if (v[i] == flag) return v[i + 1];
  return "";
}

}  // namespace

TEST_CASE("sweep plan: grid expands the product, drops keys a method ignores, shares profiles") {
  SweepDir s("grid");
  const std::string yaml = std::string(kHead) +
                           "base:\n"
                           "  seq_len: 64\n"
                           "  key_rank: 4\n"  // read by svd runs only
                           "profiles:\n"
                           "  - {name: pa, method: weight_svd, key_rank: 16}\n"
                           "  - {name: pb, method: weight_svd, key_rank: 8,"
                           " value_ranks: {low: 4, med: 8, high: 16}}\n"
                           "  - {name: unused, method: weight_svd}\n"
                           "grid:\n"
                           "  method: [full, svd, chunked]\n"
                           "  profile: [pa, pb]\n"
                           "  key_rank: [8, 16]\n"
                           "  chunk_size: [32]\n"
                           "report:\n"
                           "  target_memory_reduction: 3\n"
                           "  max_quality_loss: 0.02\n"
                           "  energy_profile: pb\n";
  const CliResult r = s.plan(yaml);
  INFO(r.out);
  REQUIRE(r.rc == 0);
  CHECK(contains(r.out, "profile 'unused'"));  // a note, not an error
  const auto m = read_json(s.dir / "m.json");
  CHECK(m.at("schema") == "kvsvd-sweep-manifest");

  // 2 datasets x (full once + svd 2 profiles x 2 key ranks + chunked once) = 12 runs.
  const auto& runs = m.at("runs");
  REQUIRE(runs.size() == 12);
  std::map<std::string, int> per_method;
  std::map<std::string, int> per_profile;
  std::set<std::string> names;
  std::set<std::vector<std::string>> svd_points;
  const auto& profiles = m.at("profiles");
  REQUIRE(profiles.size() == 2);  // each profile once, however many runs read it
  std::map<std::string, std::string> store_of;
  for (const auto& p : profiles) {
    const auto a = args_of(p);
    store_of[p.at("id")] = p.at("store_path");
    CHECK(flag_value(a, "--out") == p.at("store_path").get<std::string>());
    CHECK(flag_value(a, "--method") == "weight_svd");
    CHECK(flag_value(a, "--model") == (s.dir / "model").string());
  }
  CHECK(flag_value(args_of(profiles[1]), "--value-ranks") == "low=4,med=8,high=16");
  CHECK(store_of.at("pa") == (s.dir / "results/stores/t/pa.h5").string());

  for (size_t i = 0; i < runs.size(); ++i) {
    const auto& run = runs[i];
    const auto a = args_of(run);
    const std::string method = run.at("method");
    INFO(run.dump());
    CHECK(run.at("id") == static_cast<int>(i));  // = array task id
    CHECK(names.insert(run.at("name")).second);
    CHECK(run.at("out_dir") == (s.dir / "results/runs/t" / run.at("name").get<std::string>()).string());
    CHECK(flag_value(a, "--out") == run.at("out_dir").get<std::string>());
    CHECK(flag_value(a, "--method") == method);
    CHECK(flag_value(a, "--seq-len") == "64");
    const std::string ds = run.at("dataset");
    CHECK(flag_value(a, "--dataset") == (s.dir / (ds == "a" ? "data/a.txt" : "data/b.jsonl")).string());
    CHECK(flag_value(a, "--dataset-format") == (ds == "a" ? "text" : "jsonl"));
    ++per_method[method];
    if (method == "svd") {
      const std::string pid = run.at("profile_id");
      ++per_profile[pid];
      CHECK(flag_value(a, "--store") == store_of.at(pid));
      const std::string k = flag_value(a, "--key-rank");
      CHECK((k == "8" || k == "16"));  // the grid overrides base
      CHECK(!has(a, "--chunk-size"));
      svd_points.insert({pid, k, ds});
    } else {
      CHECK(run.at("profile_id").is_null());
      CHECK(!has(a, "--store"));
      CHECK(!has(a, "--key-rank"));
      CHECK(has(a, "--chunk-size") == (method == "chunked"));
    }
  }
  CHECK(per_method["full"] == 2);
  CHECK(per_method["svd"] == 8);
  CHECK(per_method["chunked"] == 2);
  CHECK(per_profile["pa"] == 4);
  CHECK(per_profile["pb"] == 4);
  CHECK(svd_points.size() == 8);

  // The report job: every run's folder, the target, and the store chosen for the energy plot.
  const auto rep = m.at("report").at("args").get<std::vector<std::string>>();
  for (const auto& run : runs) CHECK(has(rep, run.at("out_dir").get<std::string>()));
  CHECK(flag_value(rep, "--target-memory-reduction") == "3");
  CHECK(flag_value(rep, "--max-quality-loss") == "0.02");
  CHECK(flag_value(rep, "--store") == store_of.at("pb"));
  CHECK(flag_value(rep, "--out") == (s.dir / "results/reports/t").string());

  // sweep args hands each job exactly its manifest entry.
  const CliResult a5 = kvsvd({"sweep", "args", "m.json", "--run", "5"}, s.dir);
  REQUIRE(a5.rc == 0);
  std::string expect;
  for (const auto& x : args_of(runs[5])) expect += x + "\n";
  CHECK(a5.out == expect);
  const CliResult lp = kvsvd({"sweep", "args", "m.json", "--list", "profiles"}, s.dir);
  CHECK(lp.out == "pa\npb\n");
  const CliResult bad = kvsvd({"sweep", "args", "m.json", "--run", "12"}, s.dir);
  CHECK(bad.rc != 0);
  CHECK(contains(bad.out, "out of range"));
}

TEST_CASE("sweep plan: explicit runs, implied profile, names, duplicates merged") {
  SweepDir s("runs");
  const std::string yaml = std::string(kHead) +
                           "profiles:\n"
                           "  - {name: only, method: weight_svd}\n"
                           "runs:\n"
                           "  - {name: base, method: full, dataset: a}\n"
                           "  - {method: svd, key_rank: 8, policy: \"sink_recent:4,16\", dataset: b}\n"
                           "  - {method: svd, key_rank: 8, policy: \"sink_recent:4,16\", dataset: b}\n"
                           "  - {method: chunked, chunk_size: 16, compression_ratio: 2.5,"
                           " extra_args: [--foo, \"x y\"]}\n";
  const CliResult r = s.plan(yaml);
  INFO(r.out);
  REQUIRE(r.rc == 0);
  const auto m = read_json(s.dir / "m.json");
  const auto& runs = m.at("runs");
  REQUIRE(runs.size() == 4);  // base, one svd (duplicate merged), chunked on a and on b
  CHECK(runs[0].at("name") == "base");
  CHECK(runs[1].at("profile_id") == "only");  // the one profile is implied
  CHECK(runs[1].at("name") == "svd-k8-sink_recent_4_16-b");
  CHECK(flag_value(args_of(runs[1]), "--policy") == "sink_recent:4,16");
  const auto chunked = args_of(runs[2]);
  CHECK(flag_value(chunked, "--compression-ratio") == "2.5");
  CHECK(flag_value(chunked, "--foo") == "x y");
  CHECK(runs[3].at("dataset") == "b");
  CHECK(m.at("profiles").size() == 1);

  // A bare JSON array and JSON lines of runs drive `sweep args` too.
  std::string lines;
  for (const auto& run : runs) lines += run.dump() + "\n";
  write(s.dir / "runs.jsonl", lines);
  write(s.dir / "runs.json", runs.dump());
  for (const char* f : {"runs.jsonl", "runs.json"}) {
    const CliResult a = kvsvd({"sweep", "args", f, "--run", "2", "--field", "out_dir"}, s.dir);
    INFO(a.out);
    CHECK(a.rc == 0);
    CHECK(a.out == runs[2].at("out_dir").get<std::string>() + "\n");
  }
}

TEST_CASE("sweep plan: unknown keys and bad values name the file and line") {
  SweepDir s("errors");
  auto expect_error = [&](const std::string& yaml, const std::string& line_text,
                          const std::string& message) {
    const CliResult r = s.plan(yaml);
    INFO(yaml);
    INFO(r.out);
    CHECK(r.rc != 0);
    const int line = line_of(yaml, line_text);
    REQUIRE(line > 0);
    CHECK(contains(r.out, "sweep.yaml:" + std::to_string(line) + ":"));
    CHECK(contains(r.out, message));
  };
  const std::string ok_grid = "grid:\n  method: [full]\n";
  // Unknown top-level key.
  expect_error(std::string(kHead) + "datsets: []\n" + ok_grid, "datsets", "unknown key 'datsets'");
  // Unknown key inside a profile, on its own line.
  expect_error(std::string(kHead) + "profiles:\n  - name: p\n    method: weight_svd\n    keyrank: 8\n" +
                   ok_grid,
               "keyrank", "unknown key 'keyrank' in profiles[0]");
  // Unknown grid key.
  expect_error(std::string(kHead) + "grid:\n  method: [full]\n  chunksize: [4]\n", "chunksize",
               "unknown key 'chunksize' in grid");
  // Values checked against the CLI's own tables.
  expect_error(std::string(kHead) + "grid:\n  method: [full, svdd]\n", "svdd", "'svdd' (valid: full");
  expect_error(std::string(kHead) + "profiles:\n  - {name: p, method: pca}\n" + ok_grid, "pca", "pca");
  expect_error(std::string(kHead) + "profiles:\n  - {name: p}\ngrid:\n  method: [svd]\n  policy: [bogus]\n",
               "bogus", "bogus");
  expect_error(std::string(kHead) + "grid:\n  method: [chunked]\n  chunk_size: [0]\n", "chunk_size",
               "chunk_size must be > 0");
  // A key the method ignores is an error in an explicit run.
  expect_error(std::string(kHead) + "runs:\n  - {method: full}\n  - {method: full, key_rank: 8}\n",
               "key_rank", "key 'key_rank' is not used by method 'full'");
  // References to undefined names.
  expect_error(std::string(kHead) + "runs:\n  - {method: full, dataset: nope}\n", "nope",
               "unknown dataset 'nope'");
  expect_error(std::string(kHead) + "profiles:\n  - {name: p}\nruns:\n  - {method: svd, profile: q}\n",
               "profile: q", "unknown profile 'q'");
  // Missing files are reported where they are named.
  expect_error("name: t\nmodel: model\ndatasets:\n  - {name: a, path: data/missing.txt}\n" + ok_grid,
               "missing.txt", "does not exist");
  // A malformed document names the file and a line.
  const CliResult bad = s.plan(std::string(kHead) + "grid:\n  method: [full\n");
  CHECK(bad.rc != 0);
  CHECK(contains(bad.out, "sweep.yaml:"));
  CHECK(contains(bad.out, "malformed YAML"));
  // No grid and no runs.
  const CliResult none = s.plan(kHead);
  CHECK(none.rc != 0);
  CHECK(contains(none.out, "needs 'grid:' or 'runs:'"));
}
