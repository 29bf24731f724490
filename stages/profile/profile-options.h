// The options of `kvsvd profile`: one CLI11 declaration per flag drives the command line, its help
// text, the YAML config (config/profiles/*.yaml, key_rank for --key-rank), the sweep planner's
// checks and the provenance JSON. Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/compress/layer-decompose.h"

namespace CLI {
class App;
}

namespace kvsvd {

struct ProfileOptions {
  std::string config;  // YAML the values were read from ("" when none)
  std::string model;   // HF model directory (default: the environment variable KVSVD_MODEL)
  std::string out;     // the store; written as OUT.partial, renamed at the end
  std::string method = "weight_svd";
  int64_t key_rank = 0;          // 0: head_dim / 4
  std::string value_ranks;       // "low=16,med=32,high=64"; "": d/4, d/2, d
  double energy_threshold = 0;   // > 0: per-head ranks from the spectra
  double min_rank_ratio = 0;     // floor of the adaptive ranks, fraction of head_dim
  std::string key_space = "pre_rope";
  bool store_fused = false;
  // Calibration (activation_pca).
  std::string calib_data;
  std::string calib_format;      // ids | text | jsonl; "": from the extension
  std::string calib_field = "text";
  int64_t calib_tokens = 0;      // 0: every window of the file
  int64_t seq_len = 256;
  std::string tokenizer;         // "": MODEL/tokenizer.json
  // Rank budget (stages/profile/profile-budget.h): per-(layer, KV head) key and value ranks
  // allocated under a KV byte budget by measured loss. One of the two sizes the budget.
  int64_t kv_budget_bytes = 0;   // KV bytes per token over all layers (0: none)
  double target_ratio = 0;       // > 0: budget = fp16 full-cache bytes per token / ratio
  int64_t budget_bits = 16;      // storage the budget counts: 16 | 8 | 4 | 2 (--kv-bits of evaluate)
  int64_t budget_group = 32;     // quantization group the budget counts (8/4/2 bits)
  int64_t budget_windows = 4;    // calibration windows (the first ones) the losses are measured on
  std::string budget_curves;     // JSON of the measured loss curves: read when it exists (same
                                 //   model, store and windows), else written after measuring
  // Run.
  bool resume = false;
  bool overwrite = false;
  std::string device = "auto";
  std::string dtype = "float32";
  bool progress = true;
};

// Declares every flag of `kvsvd profile` on `app`, bound to `o` (its current values are the
// defaults --help shows). The declarations are in profile-options.cpp, one line per flag; the YAML
// keys, the provenance JSON and the sweep's checks follow from them. A new flag: a member here
// and one `b.add(...)` line in declare() there (stages/app/option-binder.h shows how).
void add_profile_options(CLI::App& app, ProfileOptions& o);
// After app.parse: reads o.config (flags given on the command line win; unknown keys are errors
// naming the file and line; `value_ranks` may be a map {low: 16, high: 64}), then
// check_profile_options.
void finish_profile_options(CLI::App& app, ProfileOptions& o);
// `args` (what follows `kvsvd profile`) through that same app, then finish_profile_options: the
// sweep planner checks every profile job with this. Throws kvsvd::Error or CLI::ParseError.
ProfileOptions parse_profile_args(const std::vector<std::string>& args);
nlohmann::json profile_options_to_json(const ProfileOptions& o);

// Checks across flags that need no model (errors name the flag).
void check_profile_options(const ProfileOptions& o);
// A rank budget is asked for (--kv-budget-bytes or --target-ratio).
bool has_budget(const ProfileOptions& o);
// The compression spec of the options (rank checks against head_dim happen in
// resolve_compress_spec once the model's shape is known).
CompressSpec compress_spec_of(const ProfileOptions& o);
// "ids" | "text" | "jsonl": explicit, or from the extension of calib_data.
std::string effective_calib_format(const ProfileOptions& o);

}  // namespace kvsvd
