// `kvsvd evaluate --pipeline-stages S` in-process under mpirun -np 2/3/4 on the bundled model:
// every summary figure except timings and memory equals the one-rank run's (the same stage body
// on MPI_COMM_SELF, whole model) bit for bit, for full, svd, quant and chunked with generation,
// at S = 2 and 3 and as two groups of two; provenance names S and the layer split; a slice that
// cannot fit is refused on every rank before any weight is read.
#include <mpi.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/model/layer-split.h"
#include "core/util/error.h"
#include "core/util/file-tree.h"
#include "core/util/json-util.h"
#include "mpi/comm.h"
#include "stages/evaluate/evaluate-stage.h"
#include "support/catch.h"
#include "support/bundled-fixture.h"

using namespace kvsvd;
namespace fs = std::filesystem;

namespace {

const std::string kRoot = KVSVD_SOURCE_DIR;

const std::string& scratch(const Comm& comm) {
  static std::string dir;
  if (dir.empty()) {
    if (comm.is_root()) {
      char tmpl[] = "/tmp/kvsvd-pipeline-mpi-XXXXXX";
      REQUIRE(mkdtemp(tmpl) != nullptr);
      dir = tmpl;
    }
    comm.broadcast(dir);
  }
  return dir;
}

std::string store_path(const Comm& comm) {
  const std::string path = scratch(comm) + "/store.h5";
  if (comm.is_root() && !fs::exists(path)) {
    const auto layers = test::weight_svd_layers(test::bundled_model(), 64, test::three_levels());
    test::write_store(path, test::bundled_model_dir(), layers, test::three_levels(),
                      test::bundled_fingerprint());
  }
  comm.barrier();
  return path;
}

// Three windows (two groups get 2 and 1), every method, generation on.
EvaluateOptions options(const Comm& comm) {
  EvaluateOptions o;
  o.model = test::bundled_model_dir();
  o.dataset = kRoot + "/assets/datasets/sotu-heldout.jsonl";
  o.dataset_format = "jsonl";
  o.methods = {"full", "svd", "quant", "chunked"};
  o.store = store_path(comm);
  o.key_ranks = {16};
  o.value_ranks = {""};
  o.policies = {"position"};
  o.chunk_sizes = {8};
  o.compression_ratios = {4.0};
  o.kv_bits = {4};
  o.seq_len = 24;
  o.max_windows = 3;
  o.gen_tokens = 3;
  o.gen_prompt_tokens = 12;
  o.device = "cpu";
  o.dtype = "float32";
  o.progress = false;
  o.command_line = "test-mpi-pipeline";
  return o;
}

bool is_timing_or_memory(const std::string& key) {
  return key.find("_per_s") != std::string::npos || key.find("seconds") != std::string::npos ||
         key.find("memory") != std::string::npos;
}

// Every figure but timings and memory that differs ("label.key"), compared exactly (a JSON
// double is written with every bit, so equal text is equal bits).
std::vector<std::string> differences(const nlohmann::json& got, const nlohmann::json& ref) {
  std::vector<std::string> out;
  for (const char* k : {"windows", "scored_tokens", "seq_len"})
    if (got.at(k).dump() != ref.at(k).dump()) out.push_back(k);
  if (got.at("results").size() != ref.at("results").size()) return {"number of results"};
  for (size_t i = 0; i < ref.at("results").size(); ++i) {
    const nlohmann::json& r = ref["results"][i];
    const nlohmann::json& g = got["results"][i];
    for (auto it = r.begin(); it != r.end(); ++it)
      if (!is_timing_or_memory(it.key()) &&
          (!g.contains(it.key()) || g.at(it.key()).dump() != it.value().dump()))
        out.push_back(r.at("label").get<std::string>() + "." + it.key());
  }
  return out;
}

void require_same_results(const nlohmann::json& got, const nlohmann::json& ref) {
  const std::vector<std::string> diff = differences(got, ref);
  std::string list;
  for (const auto& d : diff) list += d + " ";
  INFO("differing figures: " << list);
  CHECK(diff.empty());
  // A control: one figure changed in its last bit is seen.
  nlohmann::json changed = got;
  double& kl = changed["results"][1]["kl_mean"].get_ref<double&>();
  kl = std::nextafter(kl, 1.0);
  CHECK(differences(changed, ref).size() == 1);
}

// The one-rank run: the whole model in one process (what `mpirun -np 1` computes).
// `o`: options() of every rank (it holds a barrier, so it is not called from rank 0 alone).
const nlohmann::json& single_rank_summary(const Comm& comm, const EvaluateOptions& o) {
  static nlohmann::json ref;
  if (comm.is_root() && ref.is_null()) {
    const Comm self(MPI_COMM_SELF);
    ref = run_evaluate_stage(o, self).summary;
    // Generation ran, and the configurations differ from full (the comparison is not vacuous).
    REQUIRE(ref.at("results").size() == 4);
    CHECK(ref["results"][0].at("gen_token_agreement").get<double>() == 1.0);
    CHECK(ref["results"][2].at("kl_mean").get<double>() > 0.0);
  }
  return ref;
}

void check_pipeline(const Comm& comm, int stages) {
  EvaluateOptions o = options(comm);
  const nlohmann::json& ref = single_rank_summary(comm, o);
  o.pipeline_stages = std::to_string(stages);
  o.out = scratch(comm) + "/run-s" + std::to_string(stages);
  const EvaluateResult res = run_evaluate_stage(o, comm);
  CHECK_FALSE(res.interrupted);
  CHECK(comm.allreduce_sum(res.windows_computed) == 3);  // each window once, by a last stage
  if (comm.is_root()) {
    require_same_results(res.summary, ref);
    const nlohmann::json& p = res.summary.at("provenance").at("pipeline");
    CHECK(p.at("stages").get<int>() == stages);
    CHECK(p.at("groups").get<int>() == comm.size() / stages);
    const auto split = split_layers(test::bundled_model().config(), stages, 4);
    CHECK(p.at("layer_split").get<std::string>() == layer_split_string(split));
    CHECK(load_json_file(o.out + "/summary.json").dump() == res.summary.dump());
  }
  comm.barrier();
}

}  // namespace

TEST_CASE("pipeline stages give the one-rank figures bit for bit", "[evaluate][pipeline][mpi]") {
  Comm comm(MPI_COMM_WORLD);
  // S = the world (2 or 3 stages in one group); at 4 ranks, two groups of two.
  const int stages = comm.size() == 4 ? 2 : comm.size();
  check_pipeline(comm, stages);
  if (comm.size() == 4) check_pipeline(comm, 4);  // one group of four
}

TEST_CASE("a stage whose slice does not fit is refused before loading", "[evaluate][pipeline][mpi]") {
  Comm comm(MPI_COMM_WORLD);
  EvaluateOptions o = options(comm);
  o.pipeline_stages = std::to_string(comm.size());
  o.gen_tokens = 100000000000;  // caches for 1e11 tokens: no host has that much memory
  o.out = scratch(comm) + "/too-big";
  std::string msg;
  try {
    run_evaluate_stage(o, comm);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find("--pipeline-stages") != std::string::npos);
  CHECK(msg.find("bytes free") != std::string::npos);
  CHECK(msg.find("needs") != std::string::npos);
  CHECK_FALSE(fs::exists(o.out + "/summary.json"));
  comm.barrier();
}

TEST_CASE("stage counts the world cannot hold are refused on every rank", "[evaluate][pipeline][mpi]") {
  Comm comm(MPI_COMM_WORLD);
  for (const std::string bad : {"0", "x", "7"}) {
    EvaluateOptions o = options(comm);
    o.pipeline_stages = bad;  // 7: more stages than the model's 6 layers, or not a divisor
    std::string msg;
    try {
      run_evaluate_stage(o, comm);
    } catch (const Error& e) {
      msg = e.what();
    }
    INFO(bad << ": " << msg);
    CHECK(msg.find("--pipeline-stages") != std::string::npos);
  }
  comm.barrier();
  if (comm.is_root() && std::getenv("KVSVD_KEEP_TEST_FILES") == nullptr)
    kvsvd::remove_tree(scratch(comm));
}
