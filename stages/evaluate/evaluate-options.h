// The options of `kvsvd evaluate`: one CLI11 declaration per flag drives the command line, its
// help text, the YAML config (config/eval/*.yaml), the sweep planner's checks and the merged
// config recorded in summary.json. Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace kvsvd {

struct EvaluateOptions {
  std::string config;  // YAML the values were read from ("" when none)
  // Model and data.
  std::string model;
  std::string tokenizer;       // "": MODEL/tokenizer.json
  std::string dataset;
  std::string dataset_format;  // ids | text | jsonl; "": from the extension (.json ids, .jsonl)
  std::string field = "text";  // jsonl member holding the document
  bool add_bos = false;        // prepend BOS to every window (counts in seq_len)
  // Methods. List-valued keys expand into a grid: every combination becomes a configuration.
  std::vector<std::string> methods = {"full"};
  std::string store;                              // profile store (svd)
  std::vector<int64_t> key_ranks = {0};           // 0: the store's key rank
  std::vector<std::string> value_ranks = {""};    // "low=16,med=32,high=64"; "": the store's
  std::vector<std::string> policies = {"position"};
  std::string key_space;                          // "": the store's
  std::vector<int64_t> chunk_sizes = {64};
  std::vector<double> compression_ratios = {4.0};
  double energy_threshold = 0;  // > 0: chunk ranks from energy instead of the ratio
  double min_rank_ratio = 0;
  // Storage of what svd / chunked / quant caches hold (core/kv/quant-spec.h).
  std::vector<int64_t> kv_bits = {0};  // 0: the cache dtype (quant needs 16|8|4|2)
  int64_t quant_group = 32;
  int64_t residual = 32;               // quant: newest tokens kept exact
  bool hadamard = false;               // svd: rotate coefficients before quantizing
  bool head_ranks = false;             // svd: the store's per-head ranks (budget profiles)
  // Windows.
  int64_t seq_len = 0;  // 0: every document (token-id array) is one window as it is
  int64_t stride = 0;   // 0: seq_len
  int64_t max_windows = 0;
  bool pack = true;
  // Windows per batched prefill; batch g holds windows [g*batch, (g+1)*batch) whatever the rank
  // count (ranks take whole batches), so the figures do not depend on it.
  int64_t batch = 4;
  // Generation.
  int64_t gen_tokens = 0;
  int64_t gen_prompt_tokens = 0;  // 0: half the window
  // Run.
  std::string device = "auto";
  std::string dtype = "float32";
  std::string pipeline_stages;  // "": whole model per rank; N or "auto": layer slices (pipeline-plan.h)
  std::string out;  // run folder ("" : print the summary only)
  bool resume = false;
  bool progress = true;
  std::string command_line;  // for provenance (not an option)
};

// Declares every flag of `kvsvd evaluate` on `app`, bound to `o` (its current values are the
// defaults --help shows). The declarations are in evaluate-options.cpp, one line per flag; the YAML
// keys, the provenance JSON and the sweep's checks follow from them. A new flag: a member here
// and one `b.add(...)` line in declare() there (stages/app/option-binder.h shows how).
void add_evaluate_options(CLI::App& app, EvaluateOptions& o);

// After app.parse: reads o.config (flags given on the command line win; unknown keys are errors
// naming the file and line), merges repeated methods, then check_evaluate_options.
void finish_evaluate_options(CLI::App& app, EvaluateOptions& o);

// `args` (what follows `kvsvd evaluate`) through that same app, then finish_evaluate_options: the
// sweep planner checks every run it plans with this. Throws kvsvd::Error or CLI::ParseError.
EvaluateOptions parse_evaluate_args(const std::vector<std::string>& args);

// The merged options as a JSON object keyed like the YAML (for provenance).
nlohmann::json evaluate_options_to_json(const EvaluateOptions& o);

// Checks across flags that need no model, store or data (errors name the flag).
void check_evaluate_options(const EvaluateOptions& o);

// "ids" | "text" | "jsonl" for `o` (explicit, or from the dataset's extension).
std::string effective_dataset_format(const EvaluateOptions& o);

}  // namespace kvsvd
