// The profile options table, YAML loading and the checks that need no model.
#include "stages/profile/profile-options.h"

#include <cerrno>
#include <cstdlib>

#include "core/util/error.h"
#include "core/util/text-parse.h"
#include "core/util/yaml-util.h"

namespace kvsvd {
namespace {

using Spec = ProfileOptionSpec;
using O = ProfileOptions;


Spec str(const char* key, const char* help, std::string O::*m) {
  return Spec{key, help, false, [m](O& o, const std::string& v, const std::string&) { o.*m = trim(v); },
              [m](const O& o) { return nlohmann::json(o.*m); }};
}

Spec integer(const char* key, const char* help, int64_t O::*m, int64_t min_value) {
  return Spec{key, help, false,
              [=](O& o, const std::string& v, const std::string& w) {
                const int64_t x = to_int(v, w);
                KVSVD_CHECK(x >= min_value, w, " must be >= ", min_value, ", got ", x);
                o.*m = x;
              },
              [m](const O& o) { return nlohmann::json(o.*m); }};
}

Spec number(const char* key, const char* help, double O::*m) {
  return Spec{key, help, false,
              [m](O& o, const std::string& v, const std::string& w) { o.*m = to_double(v, w); },
              [m](const O& o) { return nlohmann::json(o.*m); }};
}

Spec boolean(const char* key, const char* help, bool O::*m) {
  return Spec{key, help, true,
              [m](O& o, const std::string& v, const std::string& w) { o.*m = to_bool(v, w); },
              [m](const O& o) { return nlohmann::json(o.*m); }};
}

// Help strings that come from the method and key-space tables.
const std::string& method_help() {
  static const std::string h = "basis method: " + profile_method_help();
  return h;
}
const std::string& key_space_help_text() {
  static const std::string h = "keys the key basis describes: " + key_space_help();
  return h;
}

}  // namespace

const std::vector<ProfileOptionSpec>& profile_option_table() {
  static const std::vector<Spec> table = {
      str("model", "Hugging Face model directory (config.json + safetensors); default $KVSVD_MODEL",
          &O::model),
      str("out", "profile store to write (HDF5); written as OUT.partial, renamed when complete",
          &O::out),
      Spec{"method", method_help().c_str(), false,
           [](O& o, const std::string& v, const std::string& w) {
             parse_profile_method(trim(v), w);  // names the flag, lists valid names
             o.method = trim(v);
           },
           [](const O& o) { return nlohmann::json(o.method); }},
      integer("key_rank", "key rank r_k for every head (0: head_dim/4); fixed-rank mode",
              &O::key_rank, 0),
      Spec{"value_ranks",
           "named value ranks, e.g. low=16,med=32,high=64 (default d/4, d/2, d); the value basis "
           "stores the largest",
           false,
           [](O& o, const std::string& v, const std::string& w) {
             if (!trim(v).empty()) parse_named_ranks(v, w);
             o.value_ranks = trim(v);
           },
           [](const O& o) { return nlohmann::json(o.value_ranks); }},
      number("energy_threshold",
             "> 0: adaptive per-head ranks, the smallest rank keeping this energy fraction (0..1]",
             &O::energy_threshold),
      number("min_rank_ratio", "floor of the adaptive ranks as a fraction of head_dim [0..1]",
             &O::min_rank_ratio),
      Spec{"key_space", key_space_help_text().c_str(), false,
           [](O& o, const std::string& v, const std::string& w) {
             parse_key_space(trim(v), w);
             o.key_space = trim(v);
           },
           [](const O& o) { return nlohmann::json(o.key_space); }},
      boolean("store_fused", "also store the fused output matrices W_O·P_V per query head",
              &O::store_fused),
      str("calib_data", "calibration text for activation_pca: token-id JSON, plain text or JSONL",
          &O::calib_data),
      Spec{"calib_format", "ids | text | jsonl (default from the extension: .json ids, .jsonl jsonl, else text)",
           false,
           [](O& o, const std::string& v, const std::string& w) {
             const std::string f = trim(v);
             KVSVD_CHECK(f.empty() || f == "ids" || f == "text" || f == "jsonl", w,
                         ": unknown calibration format '", f, "' (valid: ids, text, jsonl)");
             o.calib_format = f;
           },
           [](const O& o) { return nlohmann::json(o.calib_format); }},
      str("calib_field", "JSONL member holding the text (default text)", &O::calib_field),
      integer("calib_tokens", "calibration tokens to use, rounded up to whole windows (0: all)",
              &O::calib_tokens, 0),
      integer("seq_len", "tokens per calibration window", &O::seq_len, 1),
      str("tokenizer", "tokenizer.json for text calibration data (default MODEL/tokenizer.json)",
          &O::tokenizer),
      integer("kv_budget_bytes",
              "rank budget: KV bytes per token over all layers; each (layer, KV head) gets the key "
              "and value ranks that cost least measured loss (KL to the full model on calibration "
              "windows) per byte (0: no budget)", &O::kv_budget_bytes, 0),
      number("target_ratio",
             "rank budget as a reduction: fp16 full-cache KV bytes per token / this (0: none)",
             &O::target_ratio),
      integer("budget_bits", "storage bits the budget counts per coefficient: 16 | 8 | 4 | 2 "
              "(evaluate with the same --kv-bits)", &O::budget_bits, 2),
      integer("budget_group", "quantization group the budget counts for 8/4/2 bits",
              &O::budget_group, 1),
      integer("budget_windows", "calibration windows the budget's losses are measured on",
              &O::budget_windows, 1),
      str("budget_curves",
          "rank budget: JSON file of the measured loss curves; read when it exists (it must come "
          "from the same model, bases and windows: checked by a key), else written, so several "
          "budgets share one measurement", &O::budget_curves),
      boolean("resume", "continue OUT.partial of an interrupted run (same model and config)",
              &O::resume),
      boolean("overwrite", "replace an existing store at OUT", &O::overwrite),
      str("device", "cpu | cuda | cuda:N | auto (one GPU per MPI rank)", &O::device),
      str("dtype", "model compute dtype for calibration: float32 | bfloat16 | float16", &O::dtype),
      boolean("progress", "print progress to stderr on rank 0", &O::progress),
  };
  return table;
}

std::string profile_flag_name(const ProfileOptionSpec& spec) {
  std::string f = std::string("--") + spec.key;
  for (auto& c : f) {
    if (c == '_') c = '-';
  }
  return f;
}

void apply_profile_config(ProfileOptions& o, const std::string& path) {
  const YAML::Node root = load_yaml_file(path);
  o.config = path;
  if (root.IsNull()) return;  // an empty file sets nothing
  yaml_require_map(root, "a profile config", path);
  std::vector<std::string> keys;
  for (const auto& s : profile_option_table()) keys.push_back(s.key);
  yaml_check_keys(root, keys, "a profile config", path);
  for (const auto& s : profile_option_table()) {
    const YAML::Node n = root[s.key];
    if (!n.IsDefined() || n.IsNull()) continue;
    const std::string where = cat(yaml_where(n, path), " (", s.key, ")");
    std::string value;
    if (n.IsMap() && std::string(s.key) == "value_ranks") {
      for (const auto& kv : n) {
        if (!value.empty()) value += ",";
        value += cat(yaml_string(kv.first, s.key, path), "=", yaml_int(kv.second, s.key, path));
      }
    } else {
      value = yaml_string(n, s.key, path);
    }
    s.set(o, value, where);
  }
}

nlohmann::json profile_options_to_json(const ProfileOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  j["config"] = o.config;
  for (const auto& s : profile_option_table()) j[s.key] = s.get(o);
  return j;
}

void check_profile_options(ProfileOptions& o) {
  if (o.model.empty()) {
    const char* env = std::getenv("KVSVD_MODEL");
    if (env) o.model = env;
  }
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
  if (!o.calib_format.empty()) return o.calib_format;
  auto ends = [&](const std::string& suf) {
    return o.calib_data.size() >= suf.size() &&
           o.calib_data.compare(o.calib_data.size() - suf.size(), suf.size(), suf) == 0;
  };
  if (ends(".jsonl")) return "jsonl";
  if (ends(".json")) return "ids";
  return "text";
}

}  // namespace kvsvd
