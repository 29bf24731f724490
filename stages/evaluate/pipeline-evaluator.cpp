// Pipelined window evaluation. Messages per window, in order on each link:
//   prefill, per configuration: values {go, kv_bytes so far} then h [1, T, hidden] stage to stage;
//   generation, per step and configuration: h [1, P or 1, hidden] stage to stage, and the sampled
//   token (values {id}) from the last stage back to the first;
//   at the end: each earlier stage's peak memory (values {bytes}) to the last stage.
// Every layer runs the same ops on the same bits as in LlamaModel::forward (core/model/
// llama-layer), and activations cross unchanged, so the figures equal the single-rank run's.
#include "stages/evaluate/pipeline-evaluator.h"

#include <algorithm>
#include <chrono>
#include <memory>

#include "core/eval/metrics.h"
#include "core/eval/peak-memory.h"
#include "core/eval/perplexity.h"
#include "core/model/sampling.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// This stage's layers of the store's profile.
KvProfile slice_profile(const KvProfile& all, const StageSlice& s) {
  KVSVD_CHECK(static_cast<int64_t>(all.layers.size()) > s.end_layer - 1, "profile has ",
              all.layers.size(), " layers, stage ", s.stage, " needs layer ", s.end_layer - 1);
  KvProfile p;
  p.key_rank = all.key_rank;
  p.value_rank = all.value_rank;
  p.layers.assign(all.layers.begin() + s.first_layer, all.layers.begin() + s.end_layer);
  return p;
}

// logits: [1, 1, vocab] float32 -> the chosen id (as core/model/generate.cpp chooses).
int64_t choose(TokenSampler& sampler, const at::Tensor& logits) {
  at::Tensor row = logits.reshape({-1}).to(at::kCPU, at::kFloat).contiguous();  // [vocab]
  return sampler.next(row.data_ptr<float>(), row.numel());
}

}  // namespace

PipelineEvaluator::PipelineEvaluator(const LlamaSlice& slice, StageLink& link,
                                     const std::vector<CacheConfig>& configs,
                                     const KvProfile* profile, GenerationSpec gen)
    : slice_(slice), link_(link), stage_(link.rank()), stages_(link.size()), gen_(gen) {
  KVSVD_CHECK(slice.slice().stage == stage_, "pipeline: rank ", stage_, " of its group holds stage ",
              slice.slice().stage, "'s layers");
  EvalPlan plan = evaluation_plan(configs, gen);
  configs_ = std::move(plan.configs);
  labels_ = std::move(plan.labels);
  if (plan.needs_profile) {
    KVSVD_CHECK(profile != nullptr, "--method svd needs a profile store (--store STORE.h5)");
    std::vector<at::Tensor> w_o;
    for (const LayerWeights& L : slice.layer_weights()) w_o.push_back(L.wo);
    profile_ = with_fused_output(slice_profile(*profile, slice.slice()), slice.local_config(), w_o,
                                 slice.dtype());
    has_profile_ = true;
  }
}

int64_t PipelineEvaluator::prompt_tokens_for(int64_t window_tokens) const {
  return generation_prompt_tokens(gen_, window_tokens);
}

bool PipelineEvaluator::evaluate(int64_t window, const std::vector<int32_t>& ids, bool stop,
                                 std::vector<WindowRecord>* out) {
  const int64_t T = static_cast<int64_t>(ids.size());
  KVSVD_CHECK(T >= 2, "window ", window, " has ", T, " tokens (at least 2 are needed to score one)");
  const int64_t P = prompt_tokens_for(T);
  if (gen_.new_tokens > 0)
    KVSVD_CHECK(P <= T, "--gen-prompt-tokens ", P, " is longer than window ", window, " (", T,
                " tokens)");
  const bool first = stage_ == 0, last = is_last();
  const int prev = stage_ - 1, next = stage_ + 1;
  const int64_t hidden = slice_.config().hidden_size;
  const at::ScalarType dt = slice_.dtype();
  const at::Device device = slice_.device();
  const KvProfile* profile = has_profile_ ? &profile_ : nullptr;
  const LlamaConfig& local = slice_.local_config();
  const size_t C = configs_.size();
  if (out) out->clear();

  std::vector<int64_t> flat(ids.begin(), ids.end());
  const at::Tensor tokens = at::tensor(at::ArrayRef<int64_t>(flat), at::kLong).view({1, T});  // [1,T]

  // Input of a forward step: the embedding on the first stage, the previous stage's output
  // elsewhere. Output: sent on, or kept (last stage).
  auto step_in = [&](const at::Tensor& tok, int64_t len) {
    return first ? slice_.embed(tok) : link_.recv({1, len, hidden}, dt, prev);
  };

  reset_peak_memory(device);
  std::vector<WindowRecord> recs(C);
  at::Tensor full_logits;  // last stage: [T, V] float32 of the baseline (compared as they come)

  // ---- prefill: one micro-batch per configuration, streamed ----
  for (size_t i = 0; i < C; ++i) {
    // Last stage: a pass's time runs from the end of the previous one (its wait for input
    // included, so in a pipeline it is the time per micro-batch) to its NLL on the host, the
    // span WindowEvaluator times around score_window.
    const auto t_pass = Clock::now();
    int64_t kv_before = 0;
    if (first) {
      if (i == 0 && stop) {
        if (!last) link_.send_values({0, 0}, next);
        link_.flush();
        return false;
      }
    } else {
      const std::vector<int64_t> meta = link_.recv_values(2, prev);
      if (meta[0] == 0) {  // the first stage stopped: pass it on
        if (!last) link_.send_values({0, 0}, next);
        link_.flush();
        return false;
      }
      kv_before = meta[1];
    }
    std::unique_ptr<KvCache> cache = make_cache(configs_[i], local, dt, device, profile, T);
    at::Tensor h = slice_.layers(step_in(tokens, T), *cache);  // [1, T, hidden]
    const int64_t kv = kv_before + cache->bytes();
    if (!last) {
      link_.send_values({1, kv}, next);
      link_.send(h, next);
      continue;
    }
    at::Tensor lg = slice_.head(h, /*last_only=*/false);  // [1, T, V]
    // As score_windows: NLL per position, summed in float64 on the host.
    at::Tensor nll = token_nll(lg, tokens).sum(1).to(at::kCPU);  // [1]
    WindowRecord& r = recs[i];
    r.window = window;
    r.label = labels_[i];
    r.tokens = T;
    r.prefill_tokens = T;
    r.scored = T - 1;
    r.nll_sum = nll[0].item<double>();
    r.prefill_seconds = seconds_since(t_pass);
    r.kv_bytes = kv;
    r.kv_tokens = cache->length();
    if (i == 0) {
      full_logits = lg[0];  // [T, V]
      // The baseline against itself: exact by definition.
      r.kl_positions = T;
      r.kl_sum = 0;
      r.top1_agree = T;
    } else {
      const LogitAgreement la = compare_logits(full_logits, lg[0]);
      r.kl_positions = la.positions;
      r.kl_sum = la.kl_sum;
      r.top1_agree = la.top1_agree;
    }
  }

  // ---- generation: the configurations' sequences interleaved, one step each per round ----
  std::vector<std::vector<int64_t>> gen(C);
  double decode_s = 0;
  if (gen_.new_tokens > 0) {
    std::vector<std::unique_ptr<KvCache>> caches;
    std::vector<TokenSampler> samplers;
    for (size_t i = 0; i < C; ++i) {
      caches.push_back(make_cache(configs_[i], local, dt, device, profile, P + gen_.new_tokens));
      samplers.emplace_back(SamplingConfig{});
    }
    const at::Tensor prompt = tokens.narrow(1, 0, P);  // [1, P]
    Clock::time_point t_decode = Clock::now();
    // Step 0 feeds the prompt; step s >= 1 feeds the token chosen at step s - 1 (as generate()).
    for (int64_t s = 0; s < gen_.new_tokens; ++s) {
      if (s == 1) t_decode = Clock::now();
      for (size_t i = 0; i < C; ++i) {
        at::Tensor tok;
        if (first && s == 0) tok = prompt;
        if (first && s > 0) {
          const int64_t id = stages_ == 1 ? gen[i].back() : link_.recv_values(1, stages_ - 1)[0];
          tok = at::full({1, 1}, id, at::kLong);
        }
        at::Tensor h = slice_.layers(step_in(tok, s == 0 ? P : 1), *caches[i]);
        if (!last) {
          link_.send(h, next);
          continue;
        }
        const int64_t id = choose(samplers[i], slice_.head(h, /*last_only=*/true));
        gen[i].push_back(id);
        if (stages_ > 1 && s + 1 < gen_.new_tokens) link_.send_values({id}, 0);
      }
    }
    decode_s = seconds_since(t_decode);
  }

  // ---- peak memory: the largest stage's ----
  int64_t peak = peak_memory_bytes(device);
  if (!last) {
    link_.send_values({peak}, stages_ - 1);
    link_.flush();
    return true;
  }
  for (int s = 0; s + 1 < stages_; ++s) peak = std::max(peak, link_.recv_values(1, s)[0]);
  link_.flush();

  // ---- timings, memory and generation agreement, as WindowEvaluator records them ----
  for (size_t i = 0; i < C; ++i) {
    WindowRecord& r = recs[i];
    // The configurations' decode steps are interleaved: each gets an equal share of the time.
    r.peak_memory_bytes = peak;
    if (gen_.new_tokens > 0) {
      r.gen_new = static_cast<int64_t>(gen[i].size());
      r.decode_tokens = std::max<int64_t>(0, r.gen_new - 1);  // the first comes from prefill
      r.decode_seconds = decode_s / static_cast<double>(C);
    }
    if (r.gen_new > 0) {
      const SequenceAgreement a = compare_sequences(gen[0], gen[i]);
      r.gen_prefix_match = a.prefix_match;
      r.gen_token_agreement = a.token_agreement;
      r.gen_rouge_l = a.rouge_l;
    }
  }
  if (out) *out = std::move(recs);
  return true;
}

}  // namespace kvsvd
