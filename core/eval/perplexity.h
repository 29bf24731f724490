// Teacher-forced negative log-likelihood of token windows through any KV cache.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "core/kv/kv-cache.h"
#include "core/model/llama.h"

namespace kvsvd {

struct WindowScore {
  double nll_sum = 0;  // sum over scored positions of -log p(token | prefix), natural log
  int64_t tokens = 0;  // positions scored (window length - 1)
};

// One prefill pass of the whole window through `cache` (which must be empty; it holds the
// window afterwards). Every position after the first is scored; accumulation in float64.
// logits_out, when given, receives the logits [1, T, vocab] float32 (on the model's device).
WindowScore score_window(const LlamaModel& model, KvCache& cache, const std::vector<int32_t>& ids,
                         at::Tensor* logits_out = nullptr);

// Several windows of equal length as one batch: `cache` must be empty and built for batch =
// windows.size(). Returns one score per window, in order.
std::vector<WindowScore> score_windows(const LlamaModel& model, KvCache& cache,
                                       const std::vector<std::vector<int32_t>>& windows,
                                       at::Tensor* logits_out = nullptr);

// NLL per scored position from logits [B, T, vocab] and the tokens [B, T] (int64): returns
// [B, T-1] float64, entry t = -log softmax(logits[b, t])[tokens[b, t+1]].
at::Tensor token_nll(const at::Tensor& logits, const at::Tensor& tokens);

}  // namespace kvsvd
