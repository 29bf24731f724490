// Every cache method through the DecodeEngine (step_cache_maker: full, svd and quant in
// fixed-capacity layouts, chunked and svd with --kv-bits behind EagerStepCache) equals the same method's
// eager KvCache path: on the CPU in float32, logits within 1e-5 over prefill + decode steps that
// cross a chunk / quant residual-window boundary, and equal greedy tokens. Where CUDA is present:
// the graph-replayed path against the eager path, per method, in float32 and bfloat16.
#include <ATen/ATen.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/eval/cache-factory.h"
#include "core/eval/step-cache-factory.h"
#include "core/model/decode-engine.h"
#include "core/model/generate.h"
#include "support/bundled-fixture.h"
#include "support/catch.h"
#include "support/error-text.h"
#include "support/tiny-llama.h"

using namespace kvsvd;

namespace {

struct Method {
  std::string name;
  CacheConfig config;
};

// The methods at sizes whose boundaries fall inside a prompt of 11 and 9 decode steps: chunks
// of 4 rows, quant blocks of 4 tokens with a residual window of 4; svd ranks by policy.
std::vector<Method> methods(const std::vector<NamedRank>& value_ranks, int64_t key_rank) {
  std::vector<Method> out;
  out.push_back({"full", CacheConfig{}});
  for (KeySpace ks : {KeySpace::PreRope, KeySpace::PostRope}) {
    for (const char* policy : {"position", "step"}) {
      CacheConfig c;
      c.method = KvMethod::Svd;
      c.key_rank = key_rank;
      c.value_ranks = value_ranks;
      c.policy = RankPolicy::parse(policy);
      c.key_space = ks;
      out.push_back({std::string("svd/") + (ks == KeySpace::PreRope ? "pre/" : "post/") + policy, c});
    }
  }
  CacheConfig s4 = out[1].config;
  s4.kv_bits = 4;
  s4.quant_group = 4;
  out.push_back({"svd/pre/position/4b", s4});
  for (int64_t bits : {4, 2}) {
    CacheConfig q;
    q.method = KvMethod::Quant;
    q.kv_bits = bits;
    q.quant_group = 4;
    q.residual = 4;
    out.push_back({"quant/" + std::to_string(bits) + "b", q});
  }
  for (int64_t bits : {8, 16}) {  // a window that is not a multiple of the group
    CacheConfig q;
    q.method = KvMethod::Quant;
    q.kv_bits = bits;
    q.quant_group = 8;
    q.residual = 3;
    out.push_back({"quant/" + std::to_string(bits) + "b/g8/r3", q});
  }
  CacheConfig ch;
  ch.method = KvMethod::Chunked;
  ch.chunked.chunk_size = 4;
  ch.chunked.compression_ratio = 2.0;
  out.push_back({"chunked/c4/x2", ch});
  return out;
}

// Eager reference through the method's KvCache: prefill, then S greedy tokens fed one at a time.
// Returns logits [B, S+1, V]; `fed` gets the fed ids [B, S].
at::Tensor eager_logits(const LlamaModel& m, const CacheConfig& c, const KvProfile* profile,
                        const at::Tensor& prompts, int64_t S, at::Tensor* fed) {
  std::unique_ptr<KvCache> cache =
      make_cache(c, m, profile, prompts.size(1) + S, prompts.size(0));
  std::vector<at::Tensor> all{m.forward(prompts, *cache, true).select(1, 0)};
  std::vector<at::Tensor> ids;
  for (int64_t s = 0; s < S; ++s) {
    ids.push_back(all.back().argmax(-1));
    all.push_back(m.forward(ids.back().view({-1, 1}), *cache, true, false).select(1, 0));
  }
  *fed = at::stack(ids, 1);
  return at::stack(all, 1).to(at::kFloat);
}

}  // namespace

TEST_CASE("step caches: every method's engine path equals its eager cache (CPU, fp32)",
          "[decode]") {
  const LlamaModel m = test::tiny_llama(41);
  const KvProfile profile = test::weight_svd_profile(m, 8, {{"low", 4}, {"med", 8}, {"high", 16}});
  auto gen = at::make_generator<at::CPUGeneratorImpl>(9);
  const at::Tensor prompts = at::randint(m.config().vocab_size, {2, 11}, gen, at::kLong);
  const int64_t S = 9;
  for (const Method& method : methods({{"low", 4}, {"med", 8}, {"high", 16}}, 8)) {
    at::Tensor fed;
    const at::Tensor eager = eager_logits(m, method.config, &profile, prompts, S, &fed);
    DecodeEngine engine(m, true, step_cache_maker(method.config, m, &profile));
    const at::Tensor got = engine.teacher_forced_logits(prompts, fed, 11 + S);
    REQUIRE(got.sizes() == eager.sizes());
    const double diff = (got - eager).abs().max().item<double>();
    std::printf("step caches %-20s static %d: max |logit diff| %.3g (max |logit| %.3g)\n",
                method.name.c_str(), int(has_static_layout(method.config)), diff,
                eager.abs().max().item<double>());
    INFO(method.name << ": max |logit diff| " << diff);
    CHECK(diff < 1e-5);
    // Greedy tokens: the engine's device argmax over S+1 tokens against the eager argmax.
    const at::Tensor want = eager.argmax(-1);  // [B, S+1]
    const auto tokens = engine.generate(prompts, S + 1, SamplingConfig{});
    for (int64_t b = 0; b < prompts.size(0); ++b) {
      const at::Tensor row = want[b].contiguous();
      CHECK(tokens[b] == std::vector<int64_t>(row.data_ptr<int64_t>(),
                                              row.data_ptr<int64_t>() + row.numel()));
    }
    // A second call on the same engine reuses the slot: reset must leave nothing behind.
    CHECK((engine.teacher_forced_logits(prompts, fed, 11 + S) - eager).abs().max().item<double>() <
          1e-5);
  }
}

TEST_CASE("step caches: the svd static layout refuses what it does not store", "[decode]") {
  const LlamaModel m = test::tiny_llama(42);
  const KvProfile profile = test::weight_svd_profile(m, 8, {{"low", 4}, {"med", 8}, {"high", 16}});
  CacheConfig c;
  c.method = KvMethod::Svd;
  c.kv_bits = 4;
  CHECK_FALSE(has_static_layout(c));
  c.kv_bits = 0;
  c.hadamard = true;
  CHECK_FALSE(has_static_layout(c));
  c.hadamard = false;
  CHECK(has_static_layout(c));
  CHECK(test::contains(test::error_of([&] { step_cache_maker(c, m, nullptr); }), "--store"));
}

TEST_CASE("step caches on CUDA: graph-replayed tokens and logits equal the eager cache, per "
          "method, fp32 and bf16", "[decode][cuda]") {
  if (!at::hasCUDA()) {
    WARN("no CUDA device: the graph step-cache cases are not run on this machine");
    return;
  }
  std::ifstream f(std::string(KVSVD_SOURCE_DIR) + "/tests/data/bundled-ref/greedy.json");
  REQUIRE(f.good());
  const auto prompt = nlohmann::json::parse(f)["prompt_ids"].get<std::vector<int64_t>>();
  const at::Tensor p = at::tensor(at::ArrayRef<int64_t>(prompt), at::kLong).view({1, -1});
  const int64_t N = 40;  // new tokens: crosses quant residual windows and chunks of 4 and 32
  for (at::ScalarType dt : {at::kFloat, at::kBFloat16}) {
    const LlamaModel m =
        LlamaModel::load(test::bundled_model_dir(), at::Device(at::kCUDA), dt);
    const int64_t d = m.config().head_dim;
    const std::vector<NamedRank> ranks{{"low", d / 4}, {"med", d / 2}, {"high", d}};
    const KvProfile profile = test::weight_svd_profile(m, d / 2, ranks);
    const bool exact = dt == at::kFloat;
    for (Method method : methods(ranks, d / 2)) {
      if (method.config.method == KvMethod::Quant) method.config.quant_group = 32;
      const StepCacheMaker maker = step_cache_maker(method.config, m, &profile);
      DecodeEngine graph(m, true, maker), steps(m, false, maker);
      DecodeStats st;
      const auto g = graph.generate(p, N, SamplingConfig{}, {}, &st);
      const auto g2 = graph.generate(p, N, SamplingConfig{}, {}, &st);  // replays
      const auto e = steps.generate(p, N, SamplingConfig{});
      std::unique_ptr<KvCache> cache = make_cache(method.config, m, &profile, p.size(1) + N);
      const auto ref = generate(m, *cache, prompt, N, SamplingConfig{});
      size_t same = 0;
      while (same < ref.size() && same < g[0].size() && g[0][same] == ref[same]) ++same;
      // Logits: teacher-forced on the eager cache's tokens.
      at::Tensor fed;
      const at::Tensor eager = eager_logits(m, method.config, &profile, p.to(m.device()), 16, &fed);
      const at::Tensor got = steps.teacher_forced_logits(p, fed, p.size(1) + 16);
      const double diff = (got - eager).abs().max().item<double>();
      const double scale = eager.abs().max().item<double>();
      std::printf("step caches CUDA %s %-20s graph %d: graph = engine steps %d, replays equal %d, "
                  "graph = eager cache for %zu of %lld tokens; logits diff %.3g of %.3g\n",
                  c10::toString(dt), method.name.c_str(), int(st.graph), int(g == e),
                  int(g == g2), same, static_cast<long long>(N), diff, scale);
      INFO(method.name << " " << c10::toString(dt));
      CHECK(st.graph == has_static_layout(method.config));
      CHECK(g == g2);
      CHECK(g == e);
      CHECK(diff <= (exact ? 1e-4 : 5e-2) * scale);  // the parity tests' tolerances
      if (exact) CHECK(same == ref.size());
      else CHECK(same >= 8);
    }
  }
}
