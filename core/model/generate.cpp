// Prefill + decode loop with host-side token choice and wall-clock stats.
#include "core/model/generate.h"

#include <algorithm>
#include <chrono>

#include "core/util/error.h"

namespace kvsvd {
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// logits: [1, 1, vocab] float32 on any device -> chosen id (the host copy syncs the device, so
// the clocks around it measure finished work).
int64_t choose(TokenSampler& sampler, const at::Tensor& logits) {
  at::Tensor row = logits.reshape({-1}).to(at::kCPU, at::kFloat).contiguous();  // [vocab]
  return sampler.next(row.data_ptr<float>(), row.numel());
}

}  // namespace

std::vector<int64_t> generate(const LlamaModel& model, KvCache& cache,
                              const std::vector<int64_t>& prompt, int64_t max_new,
                              const SamplingConfig& sampling,
                              const std::vector<int64_t>& stop_ids, GenerateStats* stats) {
  KVSVD_CHECK(!prompt.empty(), "generate: the prompt is empty");
  KVSVD_CHECK(max_new >= 0, "generate: max_new_tokens must be >= 0, got ", max_new);
  KVSVD_CHECK(cache.length() == 0, "generate: the ", cache.name(), " cache must be empty, holds ",
              cache.length(), " tokens");
  TokenSampler sampler(sampling);
  std::vector<int64_t> out;
  GenerateStats st;

  const auto t_prefill = Clock::now();
  at::Tensor tokens =
      at::tensor(at::ArrayRef<int64_t>(prompt), at::kLong).view({1, int64_t(prompt.size())});
  at::Tensor logits = model.forward(tokens, cache, /*last_only=*/true);  // [1, 1, vocab]
  int64_t next = max_new > 0 ? choose(sampler, logits) : -1;
  st.prefill_seconds = seconds_since(t_prefill);

  const auto t_decode = Clock::now();
  while (static_cast<int64_t>(out.size()) < max_new) {
    out.push_back(next);
    if (std::find(stop_ids.begin(), stop_ids.end(), next) != stop_ids.end()) break;
    if (static_cast<int64_t>(out.size()) == max_new) break;
    at::Tensor step = at::full({1, 1}, next, at::kLong);
    logits = model.forward(step, cache, /*last_only=*/true);
    next = choose(sampler, logits);
  }
  st.decode_seconds = seconds_since(t_decode);
  st.new_tokens = static_cast<int64_t>(out.size());
  if (stats) *stats = st;
  return out;
}

}  // namespace kvsvd
