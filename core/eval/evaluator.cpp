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

WindowEvaluator::WindowEvaluator(const LlamaModel& model, const std::vector<CacheConfig>& configs,
                                 const KvProfile* profile, GenerationSpec gen)
    : model_(model), gen_(gen) {
  KVSVD_CHECK(gen.new_tokens >= 0, "--gen-tokens must be >= 0, got ", gen.new_tokens);
  KVSVD_CHECK(gen.prompt_tokens >= 0, "--gen-prompt-tokens must be >= 0, got ", gen.prompt_tokens);
  configs_.push_back(CacheConfig{});  // the full baseline
  labels_.push_back(kBaseline);
  bool needs_profile = false;
  for (const CacheConfig& c : configs) {
    if (c.method == KvMethod::Full) continue;
    const std::string label = cache_config_label(c);
    KVSVD_CHECK(std::find(labels_.begin(), labels_.end(), label) == labels_.end(),
                "configuration '", label, "' is listed twice");
    if (c.method == KvMethod::Chunked) check_chunked_options(c.chunked);
    needs_profile |= c.method == KvMethod::Svd;
    configs_.push_back(c);
    labels_.push_back(label);
  }
  if (needs_profile) {
    KVSVD_CHECK(profile != nullptr, "--method svd needs a profile store (--store STORE.h5)");
    profile_ = with_fused_output(*profile, model);
    has_profile_ = true;
  }
  if (gen_.new_tokens > 0) engine_ = std::make_shared<DecodeEngine>(model_);
}

int64_t WindowEvaluator::prompt_tokens_for(int64_t window_tokens) const {
  return gen_.prompt_tokens > 0 ? gen_.prompt_tokens : std::max<int64_t>(1, window_tokens / 2);
}

std::vector<WindowRecord> WindowEvaluator::evaluate(int64_t window,
                                                    const std::vector<int32_t>& ids) const {
  const int64_t T = static_cast<int64_t>(ids.size());
  KVSVD_CHECK(T >= 2, "window ", window, " has ", T, " tokens (at least 2 are needed to score one)");
  const int64_t P = prompt_tokens_for(T);
  if (gen_.new_tokens > 0)
    KVSVD_CHECK(P <= T, "--gen-prompt-tokens ", P, " is longer than window ", window, " (", T,
                " tokens)");
  const std::vector<int64_t> prompt(ids.begin(), ids.begin() + std::min(P, T));
  const KvProfile* profile = has_profile_ ? &profile_ : nullptr;
  const at::Device device = model_.device();

  auto run = [&](const CacheConfig& c, const std::string& label) {
    Passes out;
    WindowRecord& r = out.rec;
    r.window = window;
    r.label = label;
    r.tokens = T;
    reset_peak_memory(device);
    {
      std::unique_ptr<KvCache> cache = make_cache(c, model_, profile, T);
      const auto t0 = Clock::now();
      at::Tensor logits;
      const WindowScore s = score_window(model_, *cache, ids, &logits);  // syncs (host NLL)
      r.prefill_seconds = seconds_since(t0);
      r.prefill_tokens = T;
      r.scored = s.tokens;
      r.nll_sum = s.nll_sum;
      r.kv_bytes = cache->bytes();
      r.kv_tokens = cache->length();
      out.logits = logits[0];  // [T, V]
    }
    if (gen_.new_tokens > 0) {
      // Through the decode engine (fixed-capacity cache of P + new tokens; graph replays on CUDA
      // for the methods with a static layout), greedy on the device.
      engine_->set_cache_maker(step_cache_maker(c, model_, profile));
      DecodeStats st;
      const at::Tensor p = at::tensor(prompt, at::kLong).view({1, -1});  // [1, P]
      out.gen = engine_->generate(p, gen_.new_tokens, SamplingConfig{}, {}, &st)[0];
      r.gen_new = static_cast<int64_t>(out.gen.size());
      r.decode_tokens = st.steps;  // the first token comes from prefill
      r.decode_seconds = st.decode_seconds;
      engine_->release();  // the next configuration's cache replaces this one
    }
    r.peak_memory_bytes = peak_memory_bytes(device);
    return out;
  };

  std::vector<WindowRecord> records;
  Passes full = run(configs_[0], labels_[0]);
  {
    // The baseline against itself: exact by definition, no need to compute it.
    WindowRecord& r = full.rec;
    r.kl_positions = T;
    r.kl_sum = 0;
    r.top1_agree = T;
    if (r.gen_new > 0) {
      const SequenceAgreement a = compare_sequences(full.gen, full.gen);
      r.gen_prefix_match = a.prefix_match;
      r.gen_token_agreement = a.token_agreement;
      r.gen_rouge_l = a.rouge_l;
    }
    records.push_back(r);
  }
  for (size_t i = 1; i < configs_.size(); ++i) {
    Passes p = run(configs_[i], labels_[i]);
    WindowRecord& r = p.rec;
    const LogitAgreement la = compare_logits(full.logits, p.logits);
    r.kl_positions = la.positions;
    r.kl_sum = la.kl_sum;
    r.top1_agree = la.top1_agree;
    if (r.gen_new > 0) {
      const SequenceAgreement a = compare_sequences(full.gen, p.gen);
      r.gen_prefix_match = a.prefix_match;
      r.gen_token_agreement = a.token_agreement;
      r.gen_rouge_l = a.rouge_l;
    }
    records.push_back(r);
  }
  return records;
}

}  // namespace kvsvd
