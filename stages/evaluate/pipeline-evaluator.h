// One pipeline stage's share of evaluating a window: the same passes as WindowEvaluator (full
// baseline, then every configuration; teacher-forced prefill, then greedy generation), with this
// stage's layers and KV caches only. Prefill passes flow through the stages back to back (one
// micro-batch per configuration, GPipe-style, forward only); the generation sequences of all
// configurations are interleaved so that each stage works while the others do.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/eval/cache-factory.h"
#include "core/eval/evaluator.h"  // GenerationSpec
#include "core/eval/run-record.h"
#include "core/kv/kv-profile.h"
#include "core/model/llama-slice.h"
#include "mpi/stage-link.h"

namespace kvsvd {

class PipelineEvaluator {
 public:
  // `profile`: the store's bases for every layer of the model (svd), or null; the evaluator
  // keeps this stage's layers, fused with its own W_O. `link`: this stage's group.
  PipelineEvaluator(const LlamaSlice& slice, StageLink& link,
                    const std::vector<CacheConfig>& configs, const KvProfile* profile,
                    GenerationSpec gen);

  // As WindowEvaluator: "full" first, then the configurations in the order given.
  const std::vector<std::string>& labels() const { return labels_; }
  const std::vector<CacheConfig>& configs() const { return configs_; }
  int64_t prompt_tokens_for(int64_t window_tokens) const;

  // Collective over the group: every stage calls with the same window. The first stage's `stop`
  // decides for the group (false: stopped before the window, nothing computed). On the last
  // stage `out` receives one record per label; elsewhere it is left empty.
  bool evaluate(int64_t window, const std::vector<int32_t>& ids, bool stop,
                std::vector<WindowRecord>* out);

  bool is_last() const { return stage_ == stages_ - 1; }
  const StageLink& link() const { return link_; }

 private:
  const LlamaSlice& slice_;
  StageLink& link_;
  int stage_ = 0;
  int stages_ = 1;
  std::vector<CacheConfig> configs_;
  std::vector<std::string> labels_;
  KvProfile profile_;  // this stage's layers
  bool has_profile_ = false;
  GenerationSpec gen_;
};

}  // namespace kvsvd
