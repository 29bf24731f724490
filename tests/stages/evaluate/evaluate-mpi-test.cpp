// `kvsvd evaluate` in-process under mpirun -np 1/2/3 on the bundled model: every summary figure
// except timings and memory equals a serial computation in this test bit for bit (so the
// figures are the same for any rank count), --resume redoes only missing windows, and a store of
// another model is refused on every rank.
#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/data/dataset.h"
#include "core/data/tokenize-documents.h"
#include "core/eval/evaluator.h"
#include "core/eval/run-record.h"
#include "core/tokenizer/tokenizer.h"
#include "core/util/error.h"
#include "core/util/json-util.h"
#include "mpi/comm.h"
#include "stages/evaluate/evaluate-stage.h"
#include "stages/evaluate/run-output.h"
#include "support/catch.h"
#include "support/bundled-fixture.h"
#include "core/util/file-tree.h"

using namespace kvsvd;
namespace fs = std::filesystem;

namespace {

const std::string kRoot = KVSVD_SOURCE_DIR;
constexpr int64_t kSeqLen = 64;
constexpr int64_t kWindows = 5;
constexpr int64_t kBatch = 2;  // batches {0,1} {2,3} {4}

// One scratch folder for the whole job: made by rank 0, its name broadcast.
const std::string& scratch(const Comm& comm) {
  static std::string dir;
  if (dir.empty()) {
    if (comm.is_root()) {
      char tmpl[] = "/tmp/kvsvd-eval-mpi-XXXXXX";
      REQUIRE(mkdtemp(tmpl) != nullptr);
      dir = tmpl;
    }
    comm.broadcast(dir);
  }
  return dir;
}

// The store every test uses: weight_svd of the bundled model, key rank 64, low/med/high.
std::string good_store(const Comm& comm) {
  const std::string path = scratch(comm) + "/store.h5";
  if (comm.is_root() && !fs::exists(path)) {
    const auto layers = test::weight_svd_layers(test::bundled_model(), 64, test::three_levels());
    test::write_store(path, test::bundled_model_dir(), layers, test::three_levels(),
                      test::bundled_fingerprint());
  }
  comm.barrier();
  return path;
}

EvaluateOptions base_options(const Comm& comm, const std::string& out) {
  EvaluateOptions o;
  o.model = test::bundled_model_dir();
  o.dataset = kRoot + "/assets/datasets/sotu-heldout.jsonl";
  o.dataset_format = "jsonl";
  o.methods = {"full", "svd", "chunked"};
  o.store = good_store(comm);
  o.key_ranks = {16};
  o.value_ranks = {""};  // the store's low/med/high
  o.policies = {"position", "sink_recent:4,8"};
  o.chunk_sizes = {16};
  o.compression_ratios = {4.0};
  o.seq_len = kSeqLen;
  o.max_windows = kWindows;
  o.gen_tokens = 4;
  o.gen_prompt_tokens = 32;
  o.batch = kBatch;
  o.device = "cpu";
  o.dtype = "float32";
  o.out = out;
  o.progress = false;
  o.command_line = "test-mpi-evaluate";
  return o;
}

// The serial reference: the same windows cut here, every configuration evaluated in one process.
std::vector<ConfigFigures> serial_reference(std::vector<std::string>* labels) {
  const Tokenizer tok = Tokenizer::from_file(test::bundled_model_dir() + "/tokenizer.json");
  const std::string path = kRoot + "/assets/datasets/sotu-heldout.jsonl";
  const auto texts = read_text_documents(path, TextFormat::Jsonl, "text");
  const auto docs = tokenize_documents(
      texts, [&](const std::string& t) { return tok.encode(t, false); }, path);
  WindowSpec spec;
  spec.seq_len = kSeqLen;
  spec.max_windows = kWindows;
  spec.eos_id = tok.eos_id();
  const auto windows = make_windows(docs, spec, path);
  REQUIRE(static_cast<int64_t>(windows.size()) == kWindows);

  const LlamaModel& model = test::bundled_model();
  const KvProfile profile = test::weight_svd_profile(model, 64, test::three_levels());
  std::vector<CacheConfig> configs;
  for (const char* pol : {"position", "sink_recent:4,8"}) {
    CacheConfig c;
    c.method = KvMethod::Svd;
    c.key_rank = 16;
    c.value_ranks = test::three_levels();
    c.policy = RankPolicy::parse(pol);
    c.profile_method = "weight_svd";
    configs.push_back(c);
  }
  CacheConfig ch;
  ch.method = KvMethod::Chunked;
  ch.chunked.chunk_size = 16;
  ch.chunked.compression_ratio = 4.0;
  configs.push_back(ch);
  const WindowEvaluator ev(model, configs, &profile, GenerationSpec{4, 32});
  std::vector<WindowRecord> all;
  std::vector<int64_t> idx;
  // The stage's batches: windows grouped by index, kBatch at a time.
  for (int64_t w0 = 0; w0 < kWindows; w0 += kBatch) {
    const int64_t w1 = std::min(kWindows, w0 + kBatch);
    const std::vector<std::vector<int32_t>> batch(windows.begin() + w0, windows.begin() + w1);
    for (const auto& recs : ev.evaluate_batch(w0, batch)) all.insert(all.end(), recs.begin(), recs.end());
    for (int64_t w = w0; w < w1; ++w) idx.push_back(w);
  }
  *labels = ev.labels();
  return reduce_window_records(all, ev.labels(), idx, "full");
}

// Every figure but timings and memory, compared exactly.
void require_same_figures(const nlohmann::json& summary, const std::vector<ConfigFigures>& ref,
                          const std::vector<std::string>& labels) {
  const auto& results = summary.at("results");
  REQUIRE(results.size() == ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    const auto& r = results[i];
    const ConfigFigures& f = ref[i];
    INFO("configuration " << labels[i]);
    REQUIRE(r.at("label").get<std::string>() == labels[i]);
    CHECK(r.at("nll_mean").get<double>() == f.nll_mean);
    CHECK(r.at("perplexity").get<double>() == f.perplexity);
    CHECK(r.at("delta_perplexity").get<double>() == f.delta_perplexity);
    CHECK(r.at("delta_nll").get<double>() == f.delta_nll);
    CHECK(r.at("kl_mean").get<double>() == f.kl_mean);
    CHECK(r.at("top1_agreement").get<double>() == f.top1_agreement);
    CHECK(r.at("gen_prefix_match").get<double>() == f.gen_prefix_match);
    CHECK(r.at("gen_token_agreement").get<double>() == f.gen_token_agreement);
    CHECK(r.at("gen_rouge_l").get<double>() == f.gen_rouge_l);
    CHECK(r.at("kv_bytes_per_token").get<double>() == f.kv_bytes_per_token);
    CHECK(r.at("compression_ratio_vs_full").get<double>() == f.compression_ratio_vs_full);
    CHECK(r.at("scored_tokens").get<int64_t>() == f.scored_tokens);
  }
}

}  // namespace

TEST_CASE("evaluate figures equal a serial computation for any rank count", "[evaluate][mpi]") {
  Comm comm(MPI_COMM_WORLD);
  const std::string out = scratch(comm) + "/run";
  const EvaluateOptions o = base_options(comm, out);
  const EvaluateResult res = run_evaluate_stage(o, comm);
  CHECK_FALSE(res.interrupted);
  // Every window computed exactly once over the ranks.
  CHECK(comm.allreduce_sum(res.windows_computed) == kWindows);
  if (comm.is_root()) {
    std::vector<std::string> labels;
    const auto ref = serial_reference(&labels);
    REQUIRE(labels.size() == 4);
    require_same_figures(res.summary, ref, labels);
    const auto& s = res.summary;
    CHECK(s.at("schema") == "kvsvd-eval");
    CHECK(s.at("windows").get<int64_t>() == kWindows);
    CHECK(s.at("seq_len").get<int64_t>() == kSeqLen);
    CHECK(s.at("scored_tokens").get<int64_t>() == kWindows * (kSeqLen - 1));
    CHECK(s.at("provenance").at("world_size").get<int>() == comm.size());
    CHECK(s.at("provenance").at("model_fingerprint") == test::bundled_fingerprint());
    CHECK(s.at("results")[1].at("params").at("value_ranks").at("med").get<int64_t>() == 32);
    // The paired bootstrap interval: full against itself is exactly [0, 0]; others are ordered.
    CHECK(s.at("bootstrap").at("resamples").get<int64_t>() == 2000);
    CHECK(s.at("results")[0].at("rel_ppl_change_ci95") == nlohmann::json({0.0, 0.0}));
    for (size_t i = 1; i < s.at("results").size(); ++i) {
      const auto& ci = s.at("results")[i].at("rel_ppl_change_ci95");
      CHECK(ci[0].get<double>() <= ci[1].get<double>());
    }
    // Files: the summary on disk is the one returned; one CSV row per window x configuration.
    const nlohmann::json disk = load_json_file(out + "/summary.json");
    CHECK(disk == res.summary);
    const std::string csv = read_text_file(out + "/windows.csv");
    CHECK(std::count(csv.begin(), csv.end(), '\n') == 1 + kWindows * 4);
    CHECK(fs::exists(out + "/command.txt"));
    for (int64_t w = 0; w < kWindows; ++w) CHECK(fs::exists(partial_window_path(out, w)));
  }
  comm.barrier();
}

TEST_CASE("--resume recomputes only the windows that are missing", "[evaluate][mpi]") {
  Comm comm(MPI_COMM_WORLD);
  const std::string out = scratch(comm) + "/run";  // finished by the test above
  EvaluateOptions o = base_options(comm, out);
  o.resume = true;
  const EvaluateResult again = run_evaluate_stage(o, comm);
  CHECK(comm.allreduce_sum(again.windows_computed) == 0);
  // Drop two windows' records, as if a preempted job had not reached them.
  if (comm.is_root()) {
    fs::remove(partial_window_path(out, 1));
    fs::remove(partial_window_path(out, 4));
    fs::remove(out + "/summary.json");
  }
  comm.barrier();
  const EvaluateResult resumed = run_evaluate_stage(o, comm);
  // Whole batches are recomputed: {0,1} (for window 1) and {4}; {2,3} come from the records.
  CHECK(comm.allreduce_sum(resumed.windows_computed) == 3);
  if (comm.is_root()) {
    CHECK(resumed.windows_resumed == kWindows - 3);
    std::vector<std::string> labels;
    const auto ref = serial_reference(&labels);
    require_same_figures(resumed.summary, ref, labels);
    require_same_figures(again.summary, ref, labels);
    CHECK(fs::exists(out + "/summary.json"));
  }
  // Other options, same folder: the records are refused, naming the file.
  EvaluateOptions other = o;
  other.gen_tokens = 5;
  bool threw = false;
  try {
    run_evaluate_stage(other, comm);
  } catch (const Error& e) {
    threw = true;
    INFO(e.what());
    CHECK(std::string(e.what()).find(".partial/w0000") != std::string::npos);
    CHECK(std::string(e.what()).find("without --resume") != std::string::npos);
  }
  CHECK(threw);
  comm.barrier();
}

TEST_CASE("a store of another model is refused on every rank", "[evaluate][mpi]") {
  Comm comm(MPI_COMM_WORLD);
  const std::string bad = scratch(comm) + "/other-model.h5";
  if (comm.is_root()) {
    const auto layers = test::weight_svd_layers(test::bundled_model(), 16, test::three_levels());
    test::write_store(bad, test::bundled_model_dir(), layers, test::three_levels(),
                      "0123456789abcdef-not-this-model");
  }
  comm.barrier();
  EvaluateOptions o = base_options(comm, scratch(comm) + "/bad-run");
  o.store = bad;
  std::string msg;
  try {
    run_evaluate_stage(o, comm);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find(bad) != std::string::npos);
  CHECK(msg.find("0123456789abcdef-not-this-model") != std::string::npos);
  CHECK(msg.find(test::bundled_fingerprint()) != std::string::npos);
  CHECK_FALSE(fs::exists(scratch(comm) + "/bad-run/summary.json"));
  comm.barrier();
  if (comm.is_root() && std::getenv("KVSVD_KEEP_TEST_FILES") == nullptr)
    kvsvd::remove_tree(scratch(comm));
}
