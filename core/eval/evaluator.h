// Evaluates one token window under the full baseline and under every compressed cache
// configuration: teacher-forced prefill (NLL, KL and top-1 vs full, KV bytes held), greedy
// generation compared with full's, timings and peak memory. One window in, one record per
// configuration out; MPI-free so that any rank (or a test) can run any window.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/eval/cache-factory.h"
#include "core/eval/run-record.h"
#include "core/kv/kv-profile.h"
#include "core/model/llama.h"

namespace kvsvd {

class DecodeEngine;

struct GenerationSpec {
  int64_t new_tokens = 0;     // greedy tokens generated per window (0: no generation)
  int64_t prompt_tokens = 0;  // prompt = the window's first P tokens (0: half the window)
};

// What an evaluator runs, whole-model or pipelined: the full baseline first, then `configs`
// without full, each label once (chunked options checked); needs_profile when an svd
// configuration is among them. Errors name the flag or configuration.
struct EvalPlan {
  std::vector<CacheConfig> configs;
  std::vector<std::string> labels;
  bool needs_profile = false;
};
EvalPlan evaluation_plan(const std::vector<CacheConfig>& configs, GenerationSpec gen);

// The generation prompt's length for a window of `window_tokens`.
int64_t generation_prompt_tokens(GenerationSpec gen, int64_t window_tokens);

class WindowEvaluator {
 public:
  // `configs`: the configurations to compare with full (a Full entry is the baseline itself and
  // is dropped; duplicate labels are an error naming the label). `profile` is required when a
  // configuration is svd; the evaluator keeps its own copy with fused outputs filled in.
  WindowEvaluator(const LlamaModel& model, const std::vector<CacheConfig>& configs,
                  const KvProfile* profile, GenerationSpec gen);

  // "full" first, then the configurations in the order given.
  const std::vector<std::string>& labels() const { return labels_; }
  const std::vector<CacheConfig>& configs() const { return configs_; }  // full first, too
  static constexpr const char* kBaseline = "full";

  // One record per label (same order). `window` is the global index recorded in each.
  // ids: the window's tokens (>= 2; more than the generation prompt when generation is on).
  std::vector<WindowRecord> evaluate(int64_t window, const std::vector<int32_t>& ids) const;

  // Windows of equal length as one batch per configuration (one prefill of [B, T] each); the
  // windows' global indices are first, first+1, ... Returns, per window, one record per label.
  // A record's kv_bytes is one sequence's part of the batch cache plus what sequences share
  // (KvCache::shared_bytes), its prefill time the batch's / B. Energy-ranked chunked caches, whose
  // ranks would depend on the whole batch, run one window at a time.
  // The numbers depend on the batch's composition (batched GEMMs round differently), so callers
  // fix the grouping by window index, never by rank count.
  std::vector<std::vector<WindowRecord>> evaluate_batch(
      int64_t first, const std::vector<std::vector<int32_t>>& windows) const;

  // The generation prompt length used for a window of `window_tokens` tokens.
  int64_t prompt_tokens_for(int64_t window_tokens) const;

 private:
  const LlamaModel& model_;
  std::vector<CacheConfig> configs_;
  std::vector<std::string> labels_;
  KvProfile profile_;
  bool has_profile_ = false;
  GenerationSpec gen_;
  // Greedy generation of every configuration (its cache from step_cache_maker); shared so the
  // evaluator stays copyable, and used from the const evaluate() one configuration at a time.
  std::shared_ptr<DecodeEngine> engine_;
};

}  // namespace kvsvd
