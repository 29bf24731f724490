// Window scoring: one prefill, log-softmax in float32, per-token NLL summed in float64.
#include "core/eval/perplexity.h"

#include "core/util/error.h"

namespace kvsvd {

at::Tensor token_nll(const at::Tensor& logits, const at::Tensor& tokens) {
  KVSVD_CHECK(logits.dim() == 3 && tokens.dim() == 2 && logits.size(0) == tokens.size(0) &&
                  logits.size(1) == tokens.size(1),
              "token_nll: logits [B, T, vocab] and tokens [B, T] disagree: ", logits.sizes(),
              " vs ", tokens.sizes());
  const int64_t T = tokens.size(1);
  KVSVD_CHECK(T >= 2, "token_nll: a window needs at least 2 tokens to score, got ", T);
  at::Tensor logp = at::log_softmax(logits.narrow(1, 0, T - 1).to(at::kFloat), -1);  // [B,T-1,V]
  at::Tensor target = tokens.narrow(1, 1, T - 1).to(logits.device(), at::kLong).unsqueeze(-1);
  return logp.gather(-1, target).squeeze(-1).to(at::kDouble).neg();  // [B, T-1]
}

std::vector<WindowScore> score_windows(const LlamaModel& model, KvCache& cache,
                                       const std::vector<std::vector<int32_t>>& windows,
                                       at::Tensor* logits_out) {
  KVSVD_CHECK(!windows.empty(), "score_windows: no windows");
  KVSVD_CHECK(cache.length() == 0, "score_windows: the ", cache.name(), " cache must be empty, holds ",
              cache.length(), " tokens");
  const int64_t B = static_cast<int64_t>(windows.size());
  const int64_t T = static_cast<int64_t>(windows[0].size());
  KVSVD_CHECK(T >= 2, "score_windows: a window needs at least 2 tokens, window 0 has ", T);
  std::vector<int64_t> flat;
  flat.reserve(B * T);
  for (int64_t b = 0; b < B; ++b) {
    KVSVD_CHECK(static_cast<int64_t>(windows[b].size()) == T, "score_windows: window ", b, " has ",
                windows[b].size(), " tokens, window 0 has ", T, " (a batch needs equal lengths)");
    flat.insert(flat.end(), windows[b].begin(), windows[b].end());
  }
  at::Tensor tokens = at::tensor(at::ArrayRef<int64_t>(flat), at::kLong).view({B, T});  // [B, T]
  at::Tensor logits = model.forward(tokens, cache);                                     // [B,T,V]
  at::Tensor nll = token_nll(logits, tokens).sum(1).to(at::kCPU);                       // [B]
  std::vector<WindowScore> out(B);
  for (int64_t b = 0; b < B; ++b) out[b] = WindowScore{nll[b].item<double>(), T - 1};
  if (logits_out) *logits_out = logits;
  return out;
}

WindowScore score_window(const LlamaModel& model, KvCache& cache, const std::vector<int32_t>& ids,
                         at::Tensor* logits_out) {
  return score_windows(model, cache, {ids}, logits_out)[0];
}

}  // namespace kvsvd
