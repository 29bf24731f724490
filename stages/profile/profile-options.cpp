// The flags of `kvsvd profile`, declared once; the YAML config and the checks that need no model.
#include "stages/profile/profile-options.h"

#include "core/compress/rank-plan.h"
#include "core/data/data-format.h"
#include "core/util/error.h"
#include "stages/app/option-binder.h"
#include "stages/app/option-check.h"
#include "stages/app/yaml-options.h"

namespace kvsvd {
namespace {

using O = ProfileOptions;

void parse_format_or_empty(const std::string& v, const std::string& flag) {
  if (!v.empty()) parse_data_format(v, flag);
}

void parse_value_ranks_or_empty(const std::string& v, const std::string& flag) {
  if (!v.empty()) parse_named_ranks(v, flag);
}

void declare(OptionBinder<O>& b) {
  b.add("--config", &O::config, "YAML profile config (config/profiles/*.yaml); its keys are these "
        "flags' names with '_' for '-' (flags given here override it)");
  b.add("--model", &O::model, "Hugging Face model directory (config.json + safetensors)")
      ->envname("KVSVD_MODEL");
  b.add("--out", &O::out,
        "profile store to write (HDF5); written as OUT.partial, renamed when complete");
  with_check(b.add("--method", &O::method, "basis method: " + profile_method_help()), from_table([](const std::string& v, const std::string& f) { parse_profile_method(v, f); }));
  with_check(b.add("--key-rank", &O::key_rank,
                   "key rank r_k for every head (0: head_dim/4); fixed-rank mode"),
             at_least(0));
  with_check(b.add("--value-ranks", &O::value_ranks,
                   "named value ranks, e.g. low=16,med=32,high=64 (default d/4, d/2, d); the value "
                   "basis stores the largest"),
             from_table(parse_value_ranks_or_empty));
  b.add("--energy-threshold", &O::energy_threshold,
        "> 0: adaptive per-head ranks, the smallest rank keeping this energy fraction (0..1]");
  b.add("--min-rank-ratio", &O::min_rank_ratio,
        "floor of the adaptive ranks as a fraction of head_dim [0..1]");
  with_check(b.add("--key-space", &O::key_space, "keys the key basis describes: " + key_space_help()),
             from_table([](const std::string& v, const std::string& f) { parse_key_space(v, f); }));
  b.flag("--store-fused", &O::store_fused,
         "also store the fused output matrices W_O·P_V per query head");
  b.add("--calib-data", &O::calib_data,
        "calibration text for activation_pca: token-id JSON, plain text or JSONL");
  with_check(b.add("--calib-format", &O::calib_format,
                   "ids | text | jsonl (default from the extension: .json ids, .jsonl jsonl, else "
                   "text)"),
             from_table(parse_format_or_empty));
  b.add("--calib-field", &O::calib_field, "JSONL member holding the text");
  with_check(b.add("--calib-tokens", &O::calib_tokens,
                   "calibration tokens to use, rounded up to whole windows (0: all)"),
             at_least(0));
  with_check(b.add("--seq-len", &O::seq_len, "tokens per calibration window"), at_least(1));
  b.add("--tokenizer", &O::tokenizer,
        "tokenizer.json for text calibration data (default MODEL/tokenizer.json)");
  with_check(b.add("--kv-budget-bytes", &O::kv_budget_bytes,
                   "rank budget: KV bytes per token over all layers; each (layer, KV head) gets the "
                   "key and value ranks that cost least measured loss (KL to the full model on "
                   "calibration windows) per byte (0: no budget)"),
             at_least(0));
  b.add("--target-ratio", &O::target_ratio,
        "rank budget as a reduction: fp16 full-cache KV bytes per token / this (0: none)");
  with_check(b.add("--budget-bits", &O::budget_bits,
                   "storage bits the budget counts per coefficient: 16 | 8 | 4 | 2 (evaluate "
                   "with the same --kv-bits)"),
             at_least(2));
  with_check(b.add("--budget-group", &O::budget_group,
                   "quantization group the budget counts for 8/4/2 bits"),
             at_least(1));
  with_check(b.add("--budget-windows", &O::budget_windows,
                   "calibration windows the budget's losses are measured on"),
             at_least(1));
  b.add("--budget-curves", &O::budget_curves,
        "rank budget: JSON file of the measured loss curves; read when it exists (it must come "
        "from the same model, bases and windows: checked by a key), else written, so several "
        "budgets share one measurement");
  b.flag("--resume", &O::resume, "continue OUT.partial of an interrupted run (same model and config)");
  b.flag("--overwrite", &O::overwrite, "replace an existing store at OUT");
  b.add("--device", &O::device, "cpu | cuda | cuda:N | auto (one GPU per MPI rank)");
  b.add("--dtype", &O::dtype, "model compute dtype for calibration: float32 | bfloat16 | float16");
  b.flag("--progress", &O::progress, "print progress to stderr on rank 0");
}

}  // namespace

void add_profile_options(CLI::App& app, ProfileOptions& o) {
  OptionBinder<O> b(app, o);
  declare(b);
}

void finish_profile_options(CLI::App& app, ProfileOptions& o) {
  if (!o.config.empty()) apply_yaml_config(app, o.config, "a profile config");
  check_profile_options(o);
}

ProfileOptions parse_profile_args(const std::vector<std::string>& args) {
  return parse_options(add_profile_options, finish_profile_options, args);
}

nlohmann::json profile_options_to_json(const ProfileOptions& o) {
  return options_to_json(declare, o);
}

void check_profile_options(const ProfileOptions& o) {
  KVSVD_CHECK(!o.model.empty(), "--model DIR (or the environment variable KVSVD_MODEL) is required");
  KVSVD_CHECK(!o.out.empty(), "--out STORE.h5 is required");
  KVSVD_CHECK(!(o.resume && o.overwrite), "--resume and --overwrite exclude each other");
  const CompressSpec spec = compress_spec_of(o);
  if (spec.method != ProfileMethod::WeightSvd) {
    KVSVD_CHECK(!o.calib_data.empty(),
                "--method activation_pca needs calibration text: --calib-data FILE");
  }
  KVSVD_CHECK(!(spec.method == ProfileMethod::WeightSvd && spec.key_space == KeySpace::PostRope),
              "--key-space post_rope needs --method activation_pca: weight_svd bases come from "
              "W_K, which describes keys before RoPE");
  if (spec.ranks.adaptive()) {
    KVSVD_CHECK(o.key_rank == 0 && o.value_ranks.empty(),
                "--energy-threshold ", o.energy_threshold,
                " chooses ranks per head: drop --key-rank / --value-ranks, or pass "
                "--energy-threshold 0 for fixed ranks");
  }
  KVSVD_CHECK(o.energy_threshold >= 0 && o.energy_threshold <= 1,
              "--energy-threshold ", o.energy_threshold, ": must lie in (0, 1] (0 disables it)");
  KVSVD_CHECK(o.min_rank_ratio >= 0 && o.min_rank_ratio <= 1, "--min-rank-ratio ",
              o.min_rank_ratio, ": must lie in [0, 1]");
  KVSVD_CHECK(o.target_ratio >= 0, "--target-ratio ", o.target_ratio, ": must be >= 0");
  KVSVD_CHECK(!(o.kv_budget_bytes > 0 && o.target_ratio > 0),
              "--kv-budget-bytes and --target-ratio both size the budget: give one");
  if (has_budget(o)) {
    KVSVD_CHECK(o.budget_bits == 16 || o.budget_bits == 8 || o.budget_bits == 4 ||
                    o.budget_bits == 2,
                "--budget-bits ", o.budget_bits, ": expected 16, 8, 4 or 2");
    KVSVD_CHECK(!o.calib_data.empty(), "a rank budget measures losses on calibration text: "
                "--calib-data FILE");
    KVSVD_CHECK(!spec.ranks.adaptive() && o.key_rank == 0 && o.value_ranks.empty(),
                "a rank budget chooses every head's ranks: drop --key-rank / --value-ranks / "
                "--energy-threshold");
    KVSVD_CHECK(spec.key_space == KeySpace::PreRope,
                "a rank budget needs --key-space pre_rope (per-head caches rebuild pre-RoPE keys)");
    KVSVD_CHECK(!o.resume, "--resume is not supported with a rank budget (the allocation needs "
                "every layer's bases at once); rerun with --overwrite");
  }
}

bool has_budget(const ProfileOptions& o) { return o.kv_budget_bytes > 0 || o.target_ratio > 0; }

CompressSpec compress_spec_of(const ProfileOptions& o) {
  CompressSpec s;
  s.method = parse_profile_method(o.method, "--method");
  s.key_space = parse_key_space(o.key_space, "--key-space");
  s.ranks.key_rank = o.key_rank;
  if (!o.value_ranks.empty()) s.ranks.value_ranks = parse_named_ranks(o.value_ranks, "--value-ranks");
  s.ranks.energy_threshold = o.energy_threshold;
  s.ranks.min_rank_ratio = o.min_rank_ratio;
  s.store_fused = o.store_fused;
  return s;
}

std::string effective_calib_format(const ProfileOptions& o) {
  return data_format_name(effective_data_format(o.calib_format, o.calib_data));
}

}  // namespace kvsvd
