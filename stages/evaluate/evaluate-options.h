// The options of `kvsvd evaluate`: one table of keys drives the YAML config (config/eval/*.yaml),
// the command-line flags, their help text and the merged config recorded in summary.json.
// Torch-free and CLI-free (the CLI binding lives in evaluate-commands.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
  std::string out;  // run folder ("" : print the summary only)
  bool resume = false;
  bool progress = true;
  std::string command_line;  // for provenance (not an option)
};

// One key of the table. Values always arrive as text: from a flag, or from a YAML scalar/list.
struct EvaluateOptionSpec {
  const char* key;   // YAML key
  const char* flag;  // "--seq-len"
  const char* help;
  enum class Arity { One, List, Flag } arity;
  // List: items may also be comma-separated inside one value (not for policies / value ranks,
  // whose items contain commas: give those as repeated flags or a YAML list).
  bool split_commas;
  // Sets the option from its values; errors name `where` (the flag, or "file:line key").
  std::function<void(EvaluateOptions&, const std::vector<std::string>&, const std::string&)> set;
  std::function<nlohmann::json(const EvaluateOptions&)> get;
};

const std::vector<EvaluateOptionSpec>& evaluate_option_table();

// Applies a YAML config file (unknown keys are errors naming the file, line and valid keys).
void apply_evaluate_config(EvaluateOptions& o, const std::string& path);

// Applies one option from text values; `where` names the source in errors.
void apply_evaluate_option(EvaluateOptions& o, const EvaluateOptionSpec& spec,
                           const std::vector<std::string>& values, const std::string& where);

// The merged options as a JSON object keyed like the YAML (for provenance).
nlohmann::json evaluate_options_to_json(const EvaluateOptions& o);

// Checks what can be checked without the model, store or data (errors name the flag).
void check_evaluate_options(const EvaluateOptions& o);

// "ids" | "text" | "jsonl" for `o` (explicit, or from the dataset's extension).
std::string effective_dataset_format(const EvaluateOptions& o);

}  // namespace kvsvd
