// The flags of `kvsvd evaluate`, declared once; the YAML config and the checks that need no model.
#include "stages/evaluate/evaluate-options.h"

#include <algorithm>

#include "core/compress/profile-method.h"
#include "core/data/data-format.h"
#include "core/kv/methods.h"
#include "core/kv/quant-spec.h"
#include "core/kv/rank-policy.h"
#include "core/util/error.h"
#include "core/util/text-parse.h"
#include "stages/app/option-binder.h"
#include "stages/app/option-check.h"
#include "stages/app/yaml-options.h"

namespace kvsvd {
namespace {

using O = EvaluateOptions;

// Empty means "from elsewhere" (the extension, the store) for these two.
void parse_format_or_empty(const std::string& v, const std::string& flag) {
  if (!v.empty()) parse_data_format(v, flag);
}
void parse_key_space_or_empty(const std::string& v, const std::string& flag) {
  if (!v.empty()) parse_key_space(v, flag);
}

std::string trimmed(std::string& v) {
  v = trim(v);
  return "";
}

void declare(OptionBinder<O>& b) {
  b.add("--config", &O::config, "YAML of evaluate keys (config/eval/*.yaml); its keys are these "
        "flags' names with '_' for '-'; flags given here override it");
  b.add("--model", &O::model, "Hugging Face model directory (config.json + safetensors)")
      ->envname("KVSVD_MODEL");
  b.add("--tokenizer", &O::tokenizer, "tokenizer.json (default MODEL/tokenizer.json)");
  b.add("--dataset", &O::dataset, "dataset file: token-id JSON ([[ids], ...]), plain text, or JSONL");
  with_check(b.add("--dataset-format", &O::dataset_format,
                   "ids | text | jsonl (default from the extension: .json ids, .jsonl jsonl, else "
                   "text)"),
             from_table(parse_format_or_empty));
  b.add("--field", &O::field, "JSONL member holding the text");
  b.flag("--add-bos", &O::add_bos, "prepend BOS to every window (counts in --seq-len)");
  with_check(b.add("--method", &O::methods,
                   "KV-cache methods, comma-separated; full is always run as the baseline:\n" +
                       kv_methods_help())
                 ->delimiter(','),
             from_table([](const std::string& v, const std::string& f) { parse_kv_method(v, f); }));
  b.add("--store", &O::store, "HDF5 profile store from `kvsvd profile` (needed by svd)");
  with_check(b.add("--key-rank", &O::key_ranks, "svd key rank(s) r_k (0: the store's key rank)")
                 ->delimiter(','),
             at_least(0));
  with_check(b.add("--value-ranks", &O::value_ranks,
                   "svd named value ranks, e.g. low=16,med=32,high=64, or names the store holds "
                   "(low,med,high); empty: the store's. Repeat the flag for several sets"),
             trimmed);
  with_check(b.add("--policy", &O::policies,
                   "svd per-token value-rank policies (repeat the flag for several):\n" +
                       rank_policies_help()),
             from_table([](const std::string& v, const std::string& f) { RankPolicy::parse(v, f); },
                            [](const std::string& v) { return RankPolicy::parse(v, "").spec(); }));
  with_check(b.add("--key-space", &O::key_space, "pre_rope | post_rope (default: the store's)"), from_table(parse_key_space_or_empty));
  with_check(b.add("--chunk-size", &O::chunk_sizes,
                   "chunked: rows per chunk C, comma-separated list")->delimiter(','),
             above(0));
  with_check(b.add("--compression-ratio", &O::compression_ratios,
                   "chunked: target compression ratio per chunk, comma-separated list")
                 ->delimiter(','),
             above(0));
  b.add("--energy-threshold", &O::energy_threshold,
        "chunked: keep this fraction of each chunk's energy (0 < T <= 1) instead of the ratio");
  b.add("--min-rank-ratio", &O::min_rank_ratio,
        "chunked energy mode: rank floor as a fraction of min(C, head_dim)");
  with_check(b.add("--kv-bits", &O::kv_bits,
                   "storage bits of svd coefficients, chunked factors and the quant cache: 16 "
                   "(fp16), 8, 4, 2 (packed integer codes, fp16 scale + zero point per group; 0: "
                   "the cache dtype, not for quant), comma-separated list")
                 ->delimiter(','),
             from_table([](const std::string& v, const std::string& f) {
               check_kv_bits(to_int(v, f), /*allow_none=*/true, f);
             }));
  with_check(b.add("--quant-group", &O::quant_group,
                   "elements per quantization group (values and coefficients: per token along the "
                   "row, a shorter last group when it does not divide the row; quant keys: tokens "
                   "per block)"),
             from_table([](const std::string& v, const std::string& f) {
               check_quant_group(to_int(v, f), f);
             }));
  with_check(b.add("--residual", &O::residual,
                   "quant: the newest tokens kept in the cache dtype"),
             from_table([](const std::string& v, const std::string& f) {
               check_residual(to_int(v, f), f);
             }));
  b.flag("--hadamard", &O::hadamard,
         "svd with --kv-bits 8|4|2: rotate the coefficient spaces by a fixed Hadamard matrix "
         "before quantizing (spreads outliers)");
  b.flag("--head-ranks", &O::head_ranks,
         "svd: each (layer, KV head) at the ranks the store allocated for it (a profile with "
         "--kv-budget-bytes / --target-ratio); --key-rank / --value-ranks are then ignored");
  with_check(b.add("--seq-len", &O::seq_len, "tokens per window (0: each document/id array as it is)"),
             at_least(0));
  with_check(b.add("--stride", &O::stride, "window start-to-start distance (0: seq_len)"), at_least(0));
  with_check(b.add("--max-windows", &O::max_windows, "windows evaluated (0: all)"), at_least(0));
  b.flag("--pack", &O::pack,
         "join documents with EOS before cutting windows (--no-pack: windows within each document)");
  with_check(b.add("--batch", &O::batch,
                   "windows per batched prefill, grouped by window index (figures do not depend "
                   "on the rank count; they may differ in the last bits between batch sizes)"),
             at_least(1));
  with_check(b.add("--gen-tokens", &O::gen_tokens, "greedy tokens generated per window (0: none)"),
             at_least(0));
  with_check(b.add("--gen-prompt-tokens", &O::gen_prompt_tokens,
                   "generation prompt: the window's first P tokens (0: half the window)"),
             at_least(0));
  b.add("--device", &O::device, "cpu | cuda | cuda:N | auto (MPI ranks use their local GPU)");
  b.add("--dtype", &O::dtype, "float32 | bfloat16 | float16");
  b.add("--pipeline-stages", &O::pipeline_stages,
        "N | auto: groups of N ranks each hold a contiguous slice of the layers (auto: the "
        "fewest stages whose slices fit the GPUs' free memory); default: the whole model per rank");
  b.add("--out", &O::out, "run folder for summary.json, windows.csv, command.txt");
  b.flag("--resume", &O::resume,
         "skip windows a previous run of the same configuration finished (OUT/.partial)");
  b.flag("--progress", &O::progress, "progress lines on stderr (--no-progress: none)");
}

}  // namespace

void add_evaluate_options(CLI::App& app, EvaluateOptions& o) {
  OptionBinder<O> b(app, o);
  declare(b);
}

void finish_evaluate_options(CLI::App& app, EvaluateOptions& o) {
  if (!o.config.empty()) apply_yaml_config(app, o.config, "an evaluate config");
  // A method named twice (a repeated flag) runs once.
  std::vector<std::string> methods;
  for (const auto& m : o.methods)
    if (std::find(methods.begin(), methods.end(), m) == methods.end()) methods.push_back(m);
  o.methods = methods;
  check_evaluate_options(o);
}

EvaluateOptions parse_evaluate_args(const std::vector<std::string>& args) {
  return parse_options(add_evaluate_options, finish_evaluate_options, args);
}

nlohmann::json evaluate_options_to_json(const EvaluateOptions& o) {
  return options_to_json(declare, o);
}

std::string effective_dataset_format(const EvaluateOptions& o) {
  return data_format_name(effective_data_format(o.dataset_format, o.dataset));
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
