// The options of `kvsvd profile`: one table of keys drives the YAML config (config/profiles/*.yaml),
// the command-line flags (--key-rank for key_rank), their help text and the provenance JSON.
// Torch-free and CLI-free (the CLI binding lives in profile-commands.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/compress/layer-decompose.h"

namespace kvsvd {

struct ProfileOptions {
  std::string config;  // YAML the values were read from ("" when none)
  std::string model;   // HF model directory ("" : the environment variable KVSVD_MODEL)
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

// One key of the table. Values arrive as text, from a flag or a YAML scalar.
struct ProfileOptionSpec {
  const char* key;  // YAML key; the flag is "--" + key with '_' -> '-'
  const char* help;
  bool is_flag;     // boolean: `--resume` alone means true, `--resume=false` works too
  std::function<void(ProfileOptions&, const std::string&, const std::string&)> set;  // value, where
  std::function<nlohmann::json(const ProfileOptions&)> get;
};

const std::vector<ProfileOptionSpec>& profile_option_table();
std::string profile_flag_name(const ProfileOptionSpec& spec);  // "--key-rank"

// Applies a YAML config (unknown keys are errors naming the file, line and the valid keys).
// `value_ranks` may be a map ({low: 16, high: 64}) or a string ("low=16,high=64").
void apply_profile_config(ProfileOptions& o, const std::string& path);
nlohmann::json profile_options_to_json(const ProfileOptions& o);

// Fills KVSVD_MODEL when --model is empty and checks what needs no model (errors name the flag).
void check_profile_options(ProfileOptions& o);
// A rank budget is asked for (--kv-budget-bytes or --target-ratio).
bool has_budget(const ProfileOptions& o);
// The compression spec of the options (rank checks against head_dim happen in
// resolve_compress_spec once the model's shape is known).
CompressSpec compress_spec_of(const ProfileOptions& o);
// "ids" | "text" | "jsonl": explicit, or from the extension of calib_data.
std::string effective_calib_format(const ProfileOptions& o);

}  // namespace kvsvd
