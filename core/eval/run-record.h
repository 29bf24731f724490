// Per-window evaluation records and their reduction, in window order, into the summary figures of
// one cache configuration (results/README.md). Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace kvsvd {

// What one cache configuration did on one window. Sums, not means, so that windows reduce in a
// fixed order whatever rank computed them.
struct WindowRecord {
  int64_t window = 0;  // global window index (position in the dataset's window list)
  std::string label;   // configuration label ("full", "svd/k16/v16-32-64/position", ...)
  int64_t tokens = 0;  // window length
  // Teacher-forced prefill through the configuration's cache.
  int64_t scored = 0;     // positions with an NLL (tokens - 1)
  double nll_sum = 0;     // natural log
  int64_t kl_positions = 0;
  double kl_sum = 0;      // Σ_t KL(p_full ‖ p_cfg)
  int64_t top1_agree = 0;
  int64_t kv_bytes = 0;   // bytes the cache holds after the prefill
  int64_t kv_tokens = 0;  // tokens it holds then (= tokens)
  // Greedy generation from the window's first prompt tokens, compared with full's continuation.
  int64_t gen_new = 0;            // tokens generated (0: generation off)
  int64_t gen_prefix_match = 0;   // tokens until the first divergence
  double gen_token_agreement = 0;
  double gen_rouge_l = 0;
  // Timings and memory: the only figures that may depend on the rank count.
  int64_t prefill_tokens = 0;
  double prefill_seconds = 0;
  int64_t decode_tokens = 0;  // decode steps (forward calls after the generation prefill)
  double decode_seconds = 0;
  int64_t peak_memory_bytes = 0;
};

// JSON round trip; doubles are written with enough digits to read back bit for bit.
nlohmann::json window_record_to_json(const WindowRecord& r);
// Errors name `source` and the key.
WindowRecord window_record_from_json(const nlohmann::json& j, const std::string& source);

// Aggregate figures of one configuration over every window.
struct ConfigFigures {
  std::string label;
  int64_t windows = 0;
  int64_t scored_tokens = 0;
  double nll_mean = 0;
  double perplexity = 0;
  double delta_nll = 0;         // vs the baseline
  double delta_perplexity = 0;
  double kl_mean = 0;           // per position
  double top1_agreement = 0;
  bool has_generation = false;  // gen_* are meaningful only then
  double gen_prefix_match = 0;  // means over windows
  double gen_token_agreement = 0;
  double gen_rouge_l = 0;
  double kv_bytes_per_token = 0;
  double compression_ratio_vs_full = 0;  // baseline bytes per token / these
  double prefill_tokens_per_s = 0;       // Σ tokens / Σ seconds
  double decode_tokens_per_s = 0;
  int64_t peak_memory_bytes = 0;         // max over windows
};

// Reduces `records` (any order) per label in `labels` order. Every label must hold every window
// index of `windows` exactly once (the error names the label and the window); sums run in
// ascending window order, so the result does not depend on who computed which window.
// `baseline` names the label the deltas, KL and compression ratio are relative to.
std::vector<ConfigFigures> reduce_window_records(const std::vector<WindowRecord>& records,
                                                 const std::vector<std::string>& labels,
                                                 const std::vector<int64_t>& windows,
                                                 const std::string& baseline);

// The figures as the members of one results[] entry of summary.json (without label/method/params).
nlohmann::json figures_to_json(const ConfigFigures& f);

// windows.csv: a header line, then one row per record sorted by (window, position of the label in
// `labels`). Doubles with 17 significant digits.
std::string window_records_csv(const std::vector<WindowRecord>& records,
                               const std::vector<std::string>& labels);

}  // namespace kvsvd
