// The evaluate options table, YAML loading and the checks that need no model.
#include "stages/evaluate/evaluate-options.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "core/compress/profile-method.h"
#include "core/compress/rank-plan.h"
#include "core/kv/methods.h"
#include "core/kv/quant-spec.h"
#include "core/kv/rank-policy.h"
#include "core/util/error.h"
#include "core/util/text-parse.h"
#include "core/util/yaml-util.h"

namespace kvsvd {
namespace {

using Spec = EvaluateOptionSpec;
using Arity = EvaluateOptionSpec::Arity;
using Values = std::vector<std::string>;


const std::string& one(const Values& v, const std::string& where) {
  KVSVD_CHECK(v.size() == 1, where, ": expects one value, got ", v.size());
  return v[0];
}

Values non_empty(const Values& v, const std::string& where) {
  Values out;
  for (const auto& s : v)
    if (!trim(s).empty()) out.push_back(trim(s));
  KVSVD_CHECK(!out.empty(), where, ": expects at least one value");
  return out;
}

Spec str(const char* key, const char* flag, const char* help, std::string EvaluateOptions::*m) {
  return Spec{key, flag, help, Arity::One, false,
              [m](EvaluateOptions& o, const Values& v, const std::string& w) { o.*m = one(v, w); },
              [m](const EvaluateOptions& o) { return nlohmann::json(o.*m); }};
}

Spec integer(const char* key, const char* flag, const char* help, int64_t EvaluateOptions::*m,
             int64_t min_value) {
  return Spec{key, flag, help, Arity::One, false,
              [=](EvaluateOptions& o, const Values& v, const std::string& w) {
                const int64_t x = to_int(one(v, w), w);
                KVSVD_CHECK(x >= min_value, w, " must be >= ", min_value, ", got ", x);
                o.*m = x;
              },
              [m](const EvaluateOptions& o) { return nlohmann::json(o.*m); }};
}

Spec number(const char* key, const char* flag, const char* help, double EvaluateOptions::*m) {
  return Spec{key, flag, help, Arity::One, false,
              [m](EvaluateOptions& o, const Values& v, const std::string& w) {
                o.*m = to_double(one(v, w), w);
              },
              [m](const EvaluateOptions& o) { return nlohmann::json(o.*m); }};
}

Spec boolean(const char* key, const char* flag, const char* help, bool EvaluateOptions::*m) {
  return Spec{key, flag, help, Arity::Flag, false,
              [m](EvaluateOptions& o, const Values& v, const std::string& w) {
                o.*m = to_bool(one(v, w), w);
              },
              [m](const EvaluateOptions& o) { return nlohmann::json(o.*m); }};
}

}  // namespace

const std::vector<EvaluateOptionSpec>& evaluate_option_table() {
  static const std::vector<Spec> table = {
      str("model", "--model", "Hugging Face model directory (config.json + safetensors)",
          &EvaluateOptions::model),
      str("tokenizer", "--tokenizer", "tokenizer.json (default MODEL/tokenizer.json)",
          &EvaluateOptions::tokenizer),
      str("dataset", "--dataset",
          "dataset file: token-id JSON ([[ids], ...]), plain text, or JSONL",
          &EvaluateOptions::dataset),
      Spec{"dataset_format", "--dataset-format",
           "ids | text | jsonl (default from the extension: .json ids, .jsonl jsonl, else text)",
           Arity::One, false,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             const std::string f = trim(one(v, w));
             KVSVD_CHECK(f.empty() || f == "ids" || f == "text" || f == "jsonl", w,
                         ": unknown dataset format '", f, "' (valid: ids, text, jsonl)");
             o.dataset_format = f;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.dataset_format); }},
      str("field", "--field", "JSONL member holding the text (default text)",
          &EvaluateOptions::field),
      boolean("add_bos", "--add-bos", "prepend BOS to every window (counts in --seq-len)",
              &EvaluateOptions::add_bos),
      Spec{"method", "--method",
           "KV-cache methods, comma-separated; full is always run as the baseline",
           Arity::List, true,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             Values m;
             for (const auto& name : non_empty(v, w)) {
               parse_kv_method(name, w);  // names the flag, lists the valid methods
               // A method named twice (a repeated flag) runs once.
               if (std::find(m.begin(), m.end(), name) == m.end()) m.push_back(name);
             }
             o.methods = m;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.methods); }},
      str("store", "--store", "HDF5 profile store from `kvsvd profile` (needed by svd)",
          &EvaluateOptions::store),
      Spec{"key_rank", "--key-rank", "svd key rank(s) r_k (0: the store's key rank)",
           Arity::List, true,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             std::vector<int64_t> r;
             for (const auto& s : non_empty(v, w)) {
               r.push_back(to_int(s, w));
               KVSVD_CHECK(r.back() >= 0, w, " must be >= 0 (0: the store's), got ", r.back());
             }
             o.key_ranks = r;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.key_ranks); }},
      Spec{"value_ranks", "--value-ranks",
           "svd named value ranks, e.g. low=16,med=32,high=64, or names the store holds "
           "(low,med,high); empty: the store's. Repeat the flag for several sets",
           Arity::List, false,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             Values r;
             for (const auto& s : v) r.push_back(trim(s));
             KVSVD_CHECK(!r.empty(), w, ": expects at least one value");
             o.value_ranks = r;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.value_ranks); }},
      Spec{"policy", "--policy", nullptr /* help generated from the policy table */,
           Arity::List, false,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             Values p = non_empty(v, w);
             for (auto& s : p) s = RankPolicy::parse(s, w).spec();  // names the flag, lists valid
             o.policies = p;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.policies); }},
      Spec{"key_space", "--key-space", "pre_rope | post_rope (default: the store's)", Arity::One,
           false,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             const std::string s = trim(one(v, w));
             if (!s.empty()) parse_key_space(s, w);
             o.key_space = s;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.key_space); }},
      Spec{"chunk_size", "--chunk-size", "chunked: rows per chunk C (> 0), comma-separated list",
           Arity::List, true,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             std::vector<int64_t> c;
             for (const auto& s : non_empty(v, w)) {
               c.push_back(to_int(s, w));
               KVSVD_CHECK(c.back() > 0, w, " must be > 0, got ", c.back());
             }
             o.chunk_sizes = c;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.chunk_sizes); }},
      Spec{"compression_ratio", "--compression-ratio",
           "chunked: target compression ratio per chunk (> 0), comma-separated list",
           Arity::List, true,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             std::vector<double> x;
             for (const auto& s : non_empty(v, w)) {
               x.push_back(to_double(s, w));
               KVSVD_CHECK(x.back() > 0, w, " must be > 0, got ", x.back());
             }
             o.compression_ratios = x;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.compression_ratios); }},
      number("energy_threshold", "--energy-threshold",
             "chunked: keep this fraction of each chunk's energy (0 < T <= 1) instead of the ratio",
             &EvaluateOptions::energy_threshold),
      number("min_rank_ratio", "--min-rank-ratio",
             "chunked energy mode: rank floor as a fraction of min(C, head_dim)",
             &EvaluateOptions::min_rank_ratio),
      Spec{"kv_bits", "--kv-bits",
           "storage bits of svd coefficients, chunked factors and the quant cache: 16 (fp16), "
           "8, 4, 2 (packed integer codes, fp16 scale + zero point per group; 0: the cache dtype, "
           "not for quant), comma-separated list",
           Arity::List, true,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             std::vector<int64_t> b;
             for (const auto& s : non_empty(v, w)) {
               b.push_back(to_int(s, w));
               check_kv_bits(b.back(), /*allow_none=*/true, w);
             }
             o.kv_bits = b;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.kv_bits); }},
      Spec{"quant_group", "--quant-group",
           "elements per quantization group (values and coefficients: per token along the row, "
           "a shorter last group when it does not divide the row; quant keys: tokens per block)",
           Arity::One, false,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             const int64_t g = to_int(one(v, w), w);
             check_quant_group(g, w);
             o.quant_group = g;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.quant_group); }},
      Spec{"residual", "--residual", "quant: the newest tokens kept in the cache dtype (>= 0)",
           Arity::One, false,
           [](EvaluateOptions& o, const Values& v, const std::string& w) {
             const int64_t r = to_int(one(v, w), w);
             check_residual(r, w);
             o.residual = r;
           },
           [](const EvaluateOptions& o) { return nlohmann::json(o.residual); }},
      boolean("hadamard", "--hadamard",
              "svd with --kv-bits 8|4|2: rotate the coefficient spaces by a fixed Hadamard "
              "matrix before quantizing (spreads outliers)", &EvaluateOptions::hadamard),
      boolean("head_ranks", "--head-ranks",
              "svd: each (layer, KV head) at the ranks the store allocated for it (a profile "
              "with --kv-budget-bytes / --target-ratio); --key-rank / --value-ranks are then "
              "ignored", &EvaluateOptions::head_ranks),
      integer("seq_len", "--seq-len", "tokens per window (0: each document/id array as it is)",
              &EvaluateOptions::seq_len, 0),
      integer("stride", "--stride", "window start-to-start distance (0: seq_len)",
              &EvaluateOptions::stride, 0),
      integer("max_windows", "--max-windows", "windows evaluated (0: all)",
              &EvaluateOptions::max_windows, 0),
      boolean("pack", "--pack", "join documents with EOS before cutting windows (--no-pack: "
              "windows within each document)", &EvaluateOptions::pack),
      integer("batch", "--batch",
              "windows per batched prefill, grouped by window index (figures do not depend on "
              "the rank count; they may differ in the last bits between batch sizes)",
              &EvaluateOptions::batch, 1),
      integer("gen_tokens", "--gen-tokens", "greedy tokens generated per window (0: none)",
              &EvaluateOptions::gen_tokens, 0),
      integer("gen_prompt_tokens", "--gen-prompt-tokens",
              "generation prompt: the window's first P tokens (0: half the window)",
              &EvaluateOptions::gen_prompt_tokens, 0),
      str("device", "--device", "cpu | cuda | cuda:N | auto (MPI ranks use their local GPU)",
          &EvaluateOptions::device),
      str("dtype", "--dtype", "float32 | bfloat16 | float16", &EvaluateOptions::dtype),
      str("out", "--out", "run folder for summary.json, windows.csv, command.txt",
          &EvaluateOptions::out),
      boolean("resume", "--resume", "skip windows a previous run of the same configuration "
              "finished (OUT/.partial)", &EvaluateOptions::resume),
      boolean("progress", "--progress", "progress lines on stderr (--no-progress: none)",
              &EvaluateOptions::progress),
  };
  return table;
}

void apply_evaluate_option(EvaluateOptions& o, const EvaluateOptionSpec& spec,
                           const std::vector<std::string>& values, const std::string& where) {
  std::vector<std::string> items;
  for (const auto& v : values) {
    if (spec.arity == Arity::List && spec.split_commas) {
      size_t pos = 0;
      while (true) {
        const size_t c = v.find(',', pos);
        items.push_back(v.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
        if (c == std::string::npos) break;
        pos = c + 1;
      }
    } else {
      items.push_back(v);
    }
  }
  spec.set(o, items, where);
}

void apply_evaluate_config(EvaluateOptions& o, const std::string& path) {
  const YAML::Node root = load_yaml_file(path);
  if (root.IsNull()) return;  // an empty file sets nothing
  yaml_require_map(root, "an evaluate config", path);
  std::vector<std::string> keys;
  for (const auto& s : evaluate_option_table()) keys.push_back(s.key);
  yaml_check_keys(root, keys, "an evaluate config", path);
  for (const auto& s : evaluate_option_table()) {
    const YAML::Node n = root[s.key];
    if (!n.IsDefined() || n.IsNull()) continue;
    const std::string where = cat(yaml_where(n, path), " (", s.key, ")");
    std::vector<std::string> values;
    if (n.IsSequence()) {
      KVSVD_CHECK(s.arity == Spec::Arity::List, where, ": takes one value, not a list");
      for (const auto& item : yaml_items(n, s.key, path)) values.push_back(yaml_string(item, s.key, path));
    } else {
      values.push_back(yaml_string(n, s.key, path));
    }
    apply_evaluate_option(o, s, values, where);
  }
  o.config = path;
}

nlohmann::json evaluate_options_to_json(const EvaluateOptions& o) {
  nlohmann::json j = nlohmann::json::object();
  j["config"] = o.config;
  for (const auto& s : evaluate_option_table()) j[s.key] = s.get(o);
  return j;
}

std::string effective_dataset_format(const EvaluateOptions& o) {
  if (!o.dataset_format.empty()) return o.dataset_format;
  auto ends_with = [&](const char* suffix) {
    const std::string s = suffix;
    return o.dataset.size() >= s.size() &&
           o.dataset.compare(o.dataset.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with(".jsonl")) return "jsonl";
  if (ends_with(".json")) return "ids";
  return "text";
}

void check_evaluate_options(const EvaluateOptions& o) {
  KVSVD_CHECK(!o.model.empty(), "--model DIR (or the environment variable KVSVD_MODEL) is required");
  KVSVD_CHECK(!o.dataset.empty(), "--dataset FILE is required");
  KVSVD_CHECK(!o.methods.empty(), "--method: at least one method is required");
  bool svd = false;
  for (const auto& m : o.methods) svd |= parse_kv_method(m, "--method") == KvMethod::Svd;
  KVSVD_CHECK(!svd || !o.store.empty(),
              "--method svd needs --store STORE.h5 (a profile store from `kvsvd profile`)");
  KVSVD_CHECK(o.seq_len >= 0 && o.stride >= 0 && o.max_windows >= 0,
              "--seq-len, --stride and --max-windows must be >= 0");
  KVSVD_CHECK(o.seq_len == 0 || o.seq_len >= 2, "--seq-len must be >= 2 (a window needs 2 "
              "tokens to score one), got ", o.seq_len);
  KVSVD_CHECK(o.stride == 0 || o.seq_len > 0, "--stride needs --seq-len");
  KVSVD_CHECK(o.gen_prompt_tokens == 0 || o.seq_len == 0 || o.gen_prompt_tokens <= o.seq_len,
              "--gen-prompt-tokens ", o.gen_prompt_tokens, " is longer than a window (--seq-len ",
              o.seq_len, ")");
  KVSVD_CHECK(!o.resume || !o.out.empty(), "--resume needs --out (the run folder to resume)");
  for (int64_t c : o.chunk_sizes) KVSVD_CHECK(c > 0, "--chunk-size must be > 0, got ", c);
  for (int64_t b : o.kv_bits) check_kv_bits(b, /*allow_none=*/true);
  check_quant_group(o.quant_group);
  check_residual(o.residual);
  for (const auto& m : o.methods)
    if (parse_kv_method(m, "--method") == KvMethod::Quant)
      for (int64_t b : o.kv_bits)
        KVSVD_CHECK(b != 0, "--method quant needs --kv-bits 16, 8, 4 or 2 (0, the cache dtype, "
                    "is the full cache)");
}

}  // namespace kvsvd
