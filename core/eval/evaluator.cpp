// Per-window evaluation: one baseline pass, then one pass per configuration through its cache.
#include "core/eval/evaluator.h"

#include <algorithm>
#include <chrono>

#include "core/eval/metrics.h"
#include "core/eval/peak-memory.h"
#include "core/eval/perplexity.h"
#include "core/eval/step-cache-factory.h"
#include "core/model/decode-engine.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// What one configuration's passes produce before the comparison with full.
struct Passes {
  WindowRecord rec;
  at::Tensor logits;           // [T, V] float32 on the model's device
  std::vector<int64_t> gen;    // greedy continuation
};

}  // namespace

EvalPlan evaluation_plan(const std::vector<CacheConfig>& configs, GenerationSpec gen) {
  KVSVD_CHECK(gen.new_tokens >= 0, "--gen-tokens must be >= 0, got ", gen.new_tokens);
  KVSVD_CHECK(gen.prompt_tokens >= 0, "--gen-prompt-tokens must be >= 0, got ", gen.prompt_tokens);
  EvalPlan p;
  p.configs.push_back(CacheConfig{});  // the full baseline
  p.labels.push_back(WindowEvaluator::kBaseline);
  for (const CacheConfig& c : configs) {
    if (c.method == KvMethod::Full) continue;
    const std::string label = cache_config_label(c);
    KVSVD_CHECK(std::find(p.labels.begin(), p.labels.end(), label) == p.labels.end(),
                "configuration '", label, "' is listed twice");
    if (c.method == KvMethod::Chunked) check_chunked_options(c.chunked);
    p.needs_profile |= c.method == KvMethod::Svd;
    p.configs.push_back(c);
    p.labels.push_back(label);
  }
  return p;
}

int64_t generation_prompt_tokens(GenerationSpec gen, int64_t window_tokens) {
  return gen.prompt_tokens > 0 ? gen.prompt_tokens : std::max<int64_t>(1, window_tokens / 2);
}

WindowEvaluator::WindowEvaluator(const LlamaModel& model, const std::vector<CacheConfig>& configs,
                                 const KvProfile* profile, GenerationSpec gen)
    : model_(model), gen_(gen) {
  EvalPlan plan = evaluation_plan(configs, gen);
  configs_ = std::move(plan.configs);
  labels_ = std::move(plan.labels);
  if (plan.needs_profile) {
    KVSVD_CHECK(profile != nullptr, "--method svd needs a profile store (--store STORE.h5)");
    profile_ = with_fused_output(*profile, model);
    has_profile_ = true;
  }
  if (gen_.new_tokens > 0) engine_ = std::make_shared<DecodeEngine>(model_);
}

int64_t WindowEvaluator::prompt_tokens_for(int64_t window_tokens) const {
  return generation_prompt_tokens(gen_, window_tokens);
}

std::vector<WindowRecord> WindowEvaluator::evaluate(int64_t window,
                                                    const std::vector<int32_t>& ids) const {
  return evaluate_batch(window, {ids})[0];
}

std::vector<std::vector<WindowRecord>> WindowEvaluator::evaluate_batch(
    int64_t first, const std::vector<std::vector<int32_t>>& windows) const {
  KVSVD_CHECK(!windows.empty(), "evaluate_batch: no windows");
  const int64_t B = static_cast<int64_t>(windows.size());
  const int64_t T = static_cast<int64_t>(windows[0].size());
  for (int64_t b = 0; b < B; ++b) {
    const int64_t Tb = static_cast<int64_t>(windows[b].size());
    KVSVD_CHECK(Tb >= 2, "window ", first + b, " has ", Tb,
                " tokens (at least 2 are needed to score one)");
    KVSVD_CHECK(Tb == T, "window ", first + b, " has ", Tb, " tokens, window ", first, " has ", T,
                " (a batch needs equal lengths)");
  }
  const int64_t P = prompt_tokens_for(T);
  if (gen_.new_tokens > 0)
    KVSVD_CHECK(P <= T, "--gen-prompt-tokens ", P, " is longer than window ", first, " (", T,
                " tokens)");
  const KvProfile* profile = has_profile_ ? &profile_ : nullptr;
  const at::Device device = model_.device();

  // Chunked caches with energy ranks pick one rank per chunk for the whole batch: those run
  // one window at a time, so a window's figures never depend on its batch neighbours' data.
  auto separable = [](const CacheConfig& c) {
    return !(c.method == KvMethod::Chunked && c.chunked.energy_threshold > 0);
  };
  auto run = [&](const CacheConfig& c, const std::string& label) {
    std::vector<Passes> out(static_cast<size_t>(B));
    reset_peak_memory(device);
    const int64_t step = separable(c) ? B : 1;
    for (int64_t first_b = 0; first_b < B; first_b += step) {
      const std::vector<std::vector<int32_t>> part(windows.begin() + first_b,
                                                   windows.begin() + first_b + step);
      std::unique_ptr<KvCache> cache = make_cache(c, model_, profile, T, step);
      const auto t0 = Clock::now();
      at::Tensor logits;  // [step, T, V]
      const std::vector<WindowScore> s = score_windows(model_, *cache, part, &logits);
      const double secs = seconds_since(t0);
      // B equal per-sequence parts plus what they share: a record gets one part and the shared.
      const int64_t shared = cache->shared_bytes(), own = cache->bytes() - shared;
      KVSVD_CHECK(own % step == 0, "the ", cache->name(), " cache holds ", own,
                  " per-sequence bytes for a batch of ", step, " windows (not a multiple)");
      for (int64_t i = 0; i < step; ++i) {
        const int64_t b = first_b + i;
        WindowRecord& r = out[b].rec;
        r.window = first + b;
        r.label = label;
        r.tokens = T;
        r.prefill_seconds = secs / static_cast<double>(step);
        r.prefill_tokens = T;
        r.scored = s[i].tokens;
        r.nll_sum = s[i].nll_sum;
        r.kv_bytes = own / step + shared;
        r.kv_tokens = cache->length();
        out[b].logits = logits[i];  // [T, V]
      }
    }
    if (gen_.new_tokens > 0) {
      for (int64_t b = 0; b < B; ++b) {
        // Through the decode engine (fixed-capacity cache of P + new tokens; graph replays on
        // CUDA for the methods with a static layout), greedy on the device, one window at a time.
        const std::vector<int64_t> prompt(windows[b].begin(), windows[b].begin() + P);
        engine_->set_cache_maker(step_cache_maker(c, model_, profile));
        DecodeStats st;
        WindowRecord& r = out[b].rec;
        const at::Tensor pt = at::tensor(prompt, at::kLong).view({1, -1});  // [1, P]
        out[b].gen = engine_->generate(pt, gen_.new_tokens, SamplingConfig{}, {}, &st)[0];
        r.gen_new = static_cast<int64_t>(out[b].gen.size());
        r.decode_tokens = st.steps;  // the first token comes from prefill
        r.decode_seconds = st.decode_seconds;
        engine_->release();  // the next configuration's cache replaces this one
      }
    }
    const int64_t peak = peak_memory_bytes(device);
    for (auto& p : out) p.rec.peak_memory_bytes = peak;
    return out;
  };

  std::vector<std::vector<WindowRecord>> records(static_cast<size_t>(B));
  std::vector<Passes> full = run(configs_[0], labels_[0]);
  for (int64_t b = 0; b < B; ++b) {
    // The baseline against itself: exact by definition, no need to compute it.
    WindowRecord& r = full[b].rec;
    r.kl_positions = T;
    r.kl_sum = 0;
    r.top1_agree = T;
    if (r.gen_new > 0) {
      const SequenceAgreement a = compare_sequences(full[b].gen, full[b].gen);
      r.gen_prefix_match = a.prefix_match;
      r.gen_token_agreement = a.token_agreement;
      r.gen_rouge_l = a.rouge_l;
    }
    records[b].push_back(r);
  }
  for (size_t i = 1; i < configs_.size(); ++i) {
    std::vector<Passes> p = run(configs_[i], labels_[i]);
    for (int64_t b = 0; b < B; ++b) {
      WindowRecord& r = p[b].rec;
      const LogitAgreement la = compare_logits(full[b].logits, p[b].logits);
      r.kl_positions = la.positions;
      r.kl_sum = la.kl_sum;
      r.top1_agree = la.top1_agree;
      if (r.gen_new > 0) {
        const SequenceAgreement a = compare_sequences(full[b].gen, p[b].gen);
        r.gen_prefix_match = a.prefix_match;
        r.gen_token_agreement = a.token_agreement;
        r.gen_rouge_l = a.rouge_l;
      }
      records[b].push_back(r);
    }
  }
  return records;
}

}  // namespace kvsvd
