// svd and chunked caches on a small random Llama: full-rank parity with the full cache, the fused
// value path against explicit reconstruction, mixed per-token ranks, prefill == decode, exact
// bytes, error growing as ranks fall, bad input.
#include <ATen/ATen.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "core/compress/layer-decompose.h"
#include "core/kv/chunked-cache.h"
#include "core/kv/full-cache.h"
#include "core/kv/kv-profile.h"
#include "core/kv/static-cache.h"
#include "core/kv/svd-cache.h"
#include "core/model/llama.h"
#include "core/util/error.h"
#include "support/catch.h"
#include "support/tiny-llama.h"

using namespace kvsvd;

namespace {

constexpr int64_t kBatch = 2;

LlamaConfig tiny_config() { return test::tiny_llama_config(); }

LlamaModel tiny_model(uint64_t seed, double decay = 0) {
  test::TinyLlamaOptions o;
  o.decay = decay;
  return test::tiny_llama(seed, o);
}

// weight_svd profile of every layer through core/compress, stored at key rank `key_rank` and
// value ranks `values` (the store's value rank is the largest of them).
std::vector<LayerProfile> make_profiles(const LlamaModel& m, int64_t key_rank,
                                        const std::string& values, bool store_fused = false) {
  const LlamaConfig& c = m.config();
  AttentionShape s;
  s.num_heads = c.num_heads;
  s.num_kv_heads = c.num_kv_heads;
  s.head_dim = c.head_dim;
  s.hidden = c.hidden_size;
  CompressSpec spec;
  spec.method = ProfileMethod::WeightSvd;
  spec.ranks.key_rank = key_rank;
  spec.ranks.value_ranks = parse_named_ranks(values, "--value-ranks");
  spec.store_fused = store_fused;
  spec = resolve_compress_spec(spec, s);
  std::vector<LayerProfile> out;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerInputs in;
    in.wk = m.weights().layers[l].wk;
    in.wv = m.weights().layers[l].wv;
    in.wo = m.weights().layers[l].wo;
    out.push_back(decompose_layer(l, s, spec, in));
  }
  return out;
}

KvProfile full_rank_profile(const LlamaModel& m, bool store_fused = false) {
  return make_kv_profile(make_profiles(m, 16, "low=4,med=8,high=16", store_fused), m.config(),
                         at::kFloat, at::kCPU);
}

SvdCacheOptions svd_options(KeySpace ks, int64_t key_rank, const std::string& values,
                            const std::string& policy) {
  SvdCacheOptions o;
  o.key_space = ks;
  o.key_rank = key_rank;
  o.value_ranks = parse_named_ranks(values, "--value-ranks");
  o.policy = RankPolicy::parse(policy);
  return o;
}

at::Tensor tokens(uint64_t seed, int64_t T) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(0, tiny_config().vocab_size, {kBatch, T}, gen, at::kLong);
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

double rel_error(const at::Tensor& a, const at::Tensor& ref) {
  return (a - ref).norm().item<double>() / ref.norm().item<double>();
}

// Runs `toks` as one prefill block, or as a prefill of `first` tokens followed by one-token steps;
// returns the logits of every position [B, T, vocab].
at::Tensor run(const LlamaModel& m, KvCache& cache, const at::Tensor& toks, int64_t first) {
  const int64_t T = toks.size(1);
  std::vector<at::Tensor> parts;
  parts.push_back(m.forward(toks.narrow(1, 0, first), cache));
  for (int64_t t = first; t < T; ++t) parts.push_back(m.forward(toks.narrow(1, t, 1), cache));
  return at::cat(parts, 1);
}

// The test's own reference for the svd cache: keys and values rebuilt explicitly in head_dim
// (k̂ = P_K P_Kᵀ k before or after RoPE, v̂ = P_V,r P_V,rᵀ v with each token's own rank r), then
// ordinary causal attention and W_O. Shares no code path with SvdCache beyond RoPE and attention.
class ReferenceCache : public KvCache {
 public:
  ReferenceCache(KvProfile p, const LlamaConfig& c, KeySpace ks, int64_t key_rank,
                 std::vector<int64_t> token_ranks)
      : p_(std::move(p)), c_(c), ks_(ks), rk_(key_rank), ranks_(std::move(token_ranks)),
        k_(c.num_layers), v_(c.num_layers) {}

  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override {
    const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), d = q.size(3);
    const at::Tensor pk = p_.layers[layer].key_basis.narrow(2, 0, rk_);  // [Hkv, d, rk]
    const at::Tensor proj_k = at::matmul(pk, pk.transpose(1, 2));       // [Hkv, d, d]
    const at::Tensor kin = ks_ == KeySpace::PreRope ? k : rope.apply(k, len_);
    const at::Tensor khat = at::matmul(kin, proj_k);  // rows k̂ᵀ = kᵀ P Pᵀ (P Pᵀ symmetric)
    std::vector<at::Tensor> vrows;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t r = ranks_.at(len_ + t);
      const at::Tensor pv = p_.layers[layer].value_basis.narrow(2, 0, r);  // [Hkv, d, r]
      vrows.push_back(at::matmul(v.narrow(2, t, 1), at::matmul(pv, pv.transpose(1, 2))));
    }
    const at::Tensor vhat = at::cat(vrows, 2);
    k_[layer] = k_[layer].defined() ? at::cat({k_[layer], khat}, 2) : khat;
    v_[layer] = v_[layer].defined() ? at::cat({v_[layer], vhat}, 2) : vhat;
    const at::Tensor keys = ks_ == KeySpace::PreRope ? rope.apply(k_[layer], 0) : k_[layer];
    at::Tensor out = causal_gqa_attention(rope.apply(q, len_), keys, v_[layer]);
    return at::linear(out.transpose(1, 2).reshape({B, T, Hq * d}), w_o);
  }
  void advance(int64_t tokens) override { len_ += tokens; }
  int64_t length() const override { return len_; }
  std::vector<int64_t> layer_bytes() const override { return {}; }
  void reset() override {}
  std::string name() const override { return "reference"; }

 private:
  KvProfile p_;
  LlamaConfig c_;
  KeySpace ks_;
  int64_t rk_;
  std::vector<int64_t> ranks_;
  std::vector<at::Tensor> k_, v_;
  int64_t len_ = 0;
};

ChunkedCacheOptions chunked_ratio(int64_t chunk, double ratio) {
  ChunkedCacheOptions o;
  o.chunk_size = chunk;
  o.compression_ratio = ratio;
  return o;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("(a) at full rank svd (pre/post RoPE) and chunked reproduce the full cache", "[kv]") {
  set_attention_kernel(AttentionKernel::Manual);
  const LlamaModel m = tiny_model(11);
  const LlamaConfig& c = m.config();
  const at::Tensor toks = tokens(5, 23);
  FullCache full(c, kBatch, 0, at::kFloat, at::kCPU);
  const at::Tensor ref = run(m, full, toks, 17);  // prefill 17, decode 6
  for (KeySpace ks : {KeySpace::PreRope, KeySpace::PostRope}) {
    for (bool store_fused : {false, true}) {
      CAPTURE(static_cast<int>(ks), store_fused);
      SvdCache svd(full_rank_profile(m, store_fused), c,
                   svd_options(ks, 16, "low=16,med=16,high=16", "position"), kBatch, at::kFloat,
                   at::kCPU);
      const double err = max_abs_diff(run(m, svd, toks, 17), ref);
      INFO("max |logit diff| " << err);
      CHECK(err < 1e-4);
    }
  }
  // Chunks of 5 rows compressed at rank min(C, d) = 5: exact up to rounding.
  ChunkedCache chunked(c, chunked_ratio(5, 1e-6), kBatch, at::kFloat, at::kCPU);
  CHECK(chunked.ratio_rank() == 5);
  const double err = max_abs_diff(run(m, chunked, toks, 17), ref);
  INFO("chunked max |logit diff| " << err);
  CHECK(err < 1e-4);
  REQUIRE(chunked.chunk_ranks(0).size() == 4);  // 23 tokens = 4 chunks of 5 + 3 open
}

TEST_CASE("(b) fused value path equals explicit reconstruction", "[kv]") {
  set_attention_kernel(AttentionKernel::Manual);
  const LlamaModel m = tiny_model(12, 0.05);
  const LlamaConfig& c = m.config();
  const KvProfile prof = full_rank_profile(m);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const int64_t T = 9;
  const at::Tensor q = at::randn({kBatch, c.num_heads, T, c.head_dim}, gen, at::kFloat);
  const at::Tensor k = at::randn({kBatch, c.num_kv_heads, T, c.head_dim}, gen, at::kFloat);
  const at::Tensor v = at::randn({kBatch, c.num_kv_heads, T, c.head_dim}, gen, at::kFloat);
  const at::Tensor w_o = m.weights().layers[1].wo;
  for (KeySpace ks : {KeySpace::PreRope, KeySpace::PostRope}) {
    CAPTURE(static_cast<int>(ks));
    SvdCache svd(prof, c, svd_options(ks, 6, "low=3,med=7,high=16", "uniform:med"), kBatch,
                 at::kFloat, at::kCPU);
    ReferenceCache ref(prof, c, ks, 6, std::vector<int64_t>(T, 7));
    const at::Tensor a = svd.attend(1, q, k, v, m.rope(), w_o);
    const at::Tensor b = ref.attend(1, q, k, v, m.rope(), w_o);
    REQUIRE(a.sizes() == at::IntArrayRef({kBatch, T, c.hidden_size}));
    const double err = max_abs_diff(a, b);
    INFO("max |diff| " << err << ", max |out| " << b.abs().max().item<double>());
    CHECK(err < 1e-5);
    CHECK(b.abs().max().item<double>() > 1e-2);  // not trivially zero
  }
}

TEST_CASE("(c) mixed per-token ranks give the explicit reference's logits", "[kv]") {
  set_attention_kernel(AttentionKernel::Manual);
  const LlamaModel m = tiny_model(13, 0.05);
  const LlamaConfig& c = m.config();
  const KvProfile prof = full_rank_profile(m);
  const int64_t L = 20, T = 26;
  const at::Tensor toks = tokens(8, T);
  struct Case {
    const char* policy;
    std::vector<int64_t> ranks;  // written out by hand from the documented rules, low=3 med=7 high=12
  };
  const std::vector<Case> cases = {
      // position, L = 20: p/L <0.2 (p 0..3) low, <0.4 (4..7) med, 8..12 high, 13..16 med, 17..19 low
      // (p = 16: 0.8 is not > 0.8); generated 20..25 low.
      {"position", {3, 3, 3, 3, 7, 7, 7, 7, 12, 12, 12, 12, 12, 7, 7, 7, 7, 3, 3, 3,
                    3, 3, 3, 3, 3, 3}},
      // sink_recent:2,4: 0,1 and 16..19 high, 2..15 low, generated high.
      {"sink_recent:2,4", {12, 12, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 12, 12, 12, 12,
                           12, 12, 12, 12, 12, 12}},
  };
  for (KeySpace ks : {KeySpace::PreRope, KeySpace::PostRope}) {
    for (const Case& cs : cases) {
      CAPTURE(static_cast<int>(ks), cs.policy);
      SvdCache svd(prof, c, svd_options(ks, 10, "low=3,med=7,high=12", cs.policy), kBatch,
                   at::kFloat, at::kCPU);
      ReferenceCache ref(prof, c, ks, 10, cs.ranks);
      const at::Tensor a = run(m, svd, toks, L);
      const at::Tensor b = run(m, ref, toks, L);
      CHECK(svd.token_ranks() == cs.ranks);
      CHECK(svd.prompt_length() == L);
      const double err = max_abs_diff(a, b);
      INFO("max |logit diff| " << err);
      CHECK(err < 1e-4);
      // The compression is lossy here: the reference must differ from the full cache.
      FullCache full(c, kBatch, 0, at::kFloat, at::kCPU);
      CHECK(max_abs_diff(run(m, full, toks, L), b) > 1e-3);
    }
  }
}

TEST_CASE("(d) prefill in one block equals token-by-token decode", "[kv]") {
  set_attention_kernel(AttentionKernel::Manual);
  const LlamaModel m = tiny_model(14, 0.05);
  const LlamaConfig& c = m.config();
  const KvProfile prof = full_rank_profile(m);
  const int64_t T = 19;
  const at::Tensor toks = tokens(9, T);
  for (KeySpace ks : {KeySpace::PreRope, KeySpace::PostRope}) {
    CAPTURE(static_cast<int>(ks));
    const SvdCacheOptions o = svd_options(ks, 9, "low=3,med=7,high=12", "position");
    SvdCache block(prof, c, o, kBatch, at::kFloat, at::kCPU);
    SvdCache steps(prof, c, o, kBatch, at::kFloat, at::kCPU);
    steps.set_prompt_length(T);  // the same prompt length as the one-block prefill
    const at::Tensor a = run(m, block, toks, T);
    const at::Tensor b = run(m, steps, toks, 1);
    CHECK(block.token_ranks() == steps.token_ranks());
    CHECK(max_abs_diff(a, b) < 1e-4);
  }
  // Lossy chunked caches (ratio and energy ranks): queries inside a chunk see it exact until it
  // closes, in both orders.
  ChunkedCacheOptions energy;
  energy.chunk_size = 4;
  energy.compression_ratio = 0;
  energy.energy_threshold = 0.9;
  energy.min_rank_ratio = 0.25;
  for (const ChunkedCacheOptions& o : {chunked_ratio(4, 2.0), chunked_ratio(6, 3.0), energy}) {
    CAPTURE(o.chunk_size, o.compression_ratio, o.energy_threshold);
    ChunkedCache block(c, o, kBatch, at::kFloat, at::kCPU);
    ChunkedCache steps(c, o, kBatch, at::kFloat, at::kCPU);
    ChunkedCache mixed(c, o, kBatch, at::kFloat, at::kCPU);
    const at::Tensor a = run(m, block, toks, T);
    const at::Tensor b = run(m, steps, toks, 1);
    const at::Tensor x = run(m, mixed, toks, 7);
    INFO("block vs steps " << max_abs_diff(a, b) << ", block vs 7+steps " << max_abs_diff(a, x));
    CHECK(max_abs_diff(a, b) < 1e-4);
    CHECK(max_abs_diff(a, x) < 1e-4);
    CHECK(block.chunk_ranks(1) == steps.chunk_ranks(1));
    FullCache full(c, kBatch, 0, at::kFloat, at::kCPU);
    CHECK(max_abs_diff(run(m, full, toks, T), a) > 1e-3);  // really lossy
  }
}

TEST_CASE("(e) bytes equal an independent count of what is stored", "[kv]") {
  const LlamaModel m = tiny_model(15);
  const LlamaConfig& c = m.config();
  const int64_t L = 20, T = 27, Hkv = c.num_kv_heads, d = c.head_dim, f32 = 4, i64 = 8;
  const at::Tensor toks = tokens(10, T);
  SvdCache svd(full_rank_profile(m), c, svd_options(KeySpace::PreRope, 5, "low=3,med=7,high=12",
                                                    "position"),
               kBatch, at::kFloat, at::kCPU);
  // Independent count from the position rule: p/L < .2 or > .8 -> 3, < .4 or > .6 -> 7, else 12.
  auto expected_bytes = [&](int64_t n_tokens) {
    int64_t b = kBatch * Hkv * n_tokens * 5 * f32;  // key coefficients
    for (int64_t p = 0; p < n_tokens; ++p) {
      const double ratio = double(p) / double(L);
      const int64_t r = (ratio < 0.2 || ratio > 0.8) ? 3 : (ratio < 0.4 || ratio > 0.6) ? 7 : 12;
      b += kBatch * Hkv * r * f32 + i64;  // coefficients + position index
    }
    return b;
  };
  m.forward(toks.narrow(1, 0, L), svd);
  for (int64_t b : svd.layer_bytes()) CHECK(b == expected_bytes(L));
  CHECK(svd.bytes() == c.num_layers * expected_bytes(L));
  for (int64_t t = L; t < T; ++t) m.forward(toks.narrow(1, t, 1), svd);
  for (int64_t b : svd.layer_bytes()) CHECK(b >= expected_bytes(T));  // growth reserves room
  svd.shrink_to_fit();
  for (int64_t b : svd.layer_bytes()) CHECK(b == expected_bytes(T));
  CHECK(svd.group_size(0, 3) + svd.group_size(0, 7) + svd.group_size(0, 12) == T);
  // Weights: key basis [Hkv,d,5], value basis [Hkv,d,12], fused [hidden, Hq*12] per layer.
  CHECK(svd.weights_bytes() == c.num_layers * f32 *
                                   (Hkv * d * 5 + Hkv * d * 12 + c.hidden_size * c.num_heads * 12));
  FullCache full(c, kBatch, 0, at::kFloat, at::kCPU);
  m.forward(toks.narrow(1, 0, L), full);
  CHECK(svd.layer_bytes()[0] < full.layer_bytes()[0]);

  // Chunked: per chunk U_r S_r [C, r] and V_rᵀ [r, d] for keys and values, plus the open buffers.
  const int64_t C = 6;
  ChunkedCache ch(c, chunked_ratio(C, 2.0), kBatch, at::kFloat, at::kCPU);
  const int64_t r = std::max<int64_t>(1, static_cast<int64_t>(std::floor(C * d / (2.0 * (C + d)))));
  CHECK(ch.ratio_rank() == r);
  m.forward(toks, ch);
  const int64_t chunks = T / C;
  const int64_t want = 2 * kBatch * Hkv * C * d * f32 + chunks * 2 * kBatch * Hkv * (C * r + r * d) * f32;
  for (int64_t b : ch.layer_bytes()) CHECK(b == want);
  for (const auto& kr : ch.chunk_ranks(0)) CHECK(kr == std::make_pair(r, r));
}

TEST_CASE("(f) lower ranks give larger error, monotonically", "[kv]") {
  set_attention_kernel(AttentionKernel::Manual);
  const LlamaModel m = tiny_model(16, 0.12);  // decaying spectrum
  const LlamaConfig& c = m.config();
  const KvProfile prof = full_rank_profile(m);
  const at::Tensor toks = tokens(11, 24);
  FullCache full(c, kBatch, 0, at::kFloat, at::kCPU);
  const at::Tensor ref = m.forward(toks, full);
  auto svd_err = [&](int64_t rk, int64_t rv, KeySpace ks) {
    SvdCache svd(prof, c, svd_options(ks, rk, cat("low=", rv, ",med=", rv, ",high=", rv),
                                      "uniform:high"),
                 kBatch, at::kFloat, at::kCPU);
    return rel_error(m.forward(toks, svd), ref);
  };
  const std::vector<int64_t> ranks = {16, 12, 8, 4, 2, 1};
  for (KeySpace ks : {KeySpace::PreRope, KeySpace::PostRope}) {
    std::vector<double> by_value, by_key;
    for (int64_t r : ranks) {
      by_value.push_back(svd_err(16, r, ks));
      by_key.push_back(svd_err(r, 16, ks));
    }
    CAPTURE(static_cast<int>(ks));
    CHECK(by_value[0] < 1e-5);
    CHECK(by_key[0] < 1e-5);
    for (size_t i = 1; i < ranks.size(); ++i) {
      INFO("rank " << ranks[i] << ": value err " << by_value[i] << " (prev " << by_value[i - 1]
                   << "), key err " << by_key[i] << " (prev " << by_key[i - 1] << ")");
      CHECK(by_value[i] > by_value[i - 1]);
      CHECK(by_key[i] > by_key[i - 1]);
    }
  }
  std::vector<double> by_ratio;
  std::vector<int64_t> chunk_ranks;
  for (double ratio : {1e-6, 1.0, 1.5, 2.5, 4.0}) {  // C = 8, d = 16: ranks 8, 5, 3, 2, 1
    ChunkedCache ch(c, chunked_ratio(8, ratio), kBatch, at::kFloat, at::kCPU);
    chunk_ranks.push_back(ch.ratio_rank());
    by_ratio.push_back(rel_error(m.forward(toks, ch), ref));
  }
  CHECK(chunk_ranks == std::vector<int64_t>{8, 5, 3, 2, 1});
  CHECK(by_ratio[0] < 1e-5);
  for (size_t i = 1; i < by_ratio.size(); ++i) {
    INFO("ratio step " << i << ": " << by_ratio[i] << " vs " << by_ratio[i - 1]);
    CHECK(by_ratio[i] > by_ratio[i - 1]);
  }
}

TEST_CASE("(g) bad input is refused with a message naming the culprit", "[kv]") {
  const LlamaModel m = tiny_model(17);
  const LlamaConfig& c = m.config();
  // A store whose value rank is 8 and key rank 6.
  const KvProfile small =
      make_kv_profile(make_profiles(m, 6, "low=2,med=4,high=8"), c, at::kFloat, at::kCPU);
  auto build = [&](int64_t rk, const std::string& values, const std::string& policy) {
    SvdCache svd(small, c, svd_options(KeySpace::PreRope, rk, values, policy), kBatch, at::kFloat,
                 at::kCPU);
  };
  std::string msg = error_of([&] { build(6, "low=2,med=4,high=12", "position"); });
  CHECK(contains(msg, "high=12"));
  CHECK(contains(msg, "store's value rank is 8"));
  msg = error_of([&] { build(7, "low=2,med=4,high=8", "position"); });
  CHECK(contains(msg, "--key-rank"));
  CHECK(contains(msg, "store's key rank is 6"));
  msg = error_of([&] { build(6, "low=2,high=8", "position"); });  // position needs med
  CHECK(contains(msg, "'med'"));
  CHECK(error_of([&] { build(6, "low=2,high=8", "sink_recent:1,2"); }).empty());
  msg = error_of([&] { build(6, "low=2,med=4,high=8", "lowest_first"); });
  CHECK(contains(msg, "--rank-policy"));
  CHECK(contains(msg, "sink_recent:S,W"));
  msg = error_of([&] { ChunkedCache(c, chunked_ratio(0, 2.0), kBatch, at::kFloat, at::kCPU); });
  CHECK(contains(msg, "--chunk-size"));
  msg = error_of([&] { ChunkedCache(c, chunked_ratio(-3, 2.0), kBatch, at::kFloat, at::kCPU); });
  CHECK(contains(msg, "--chunk-size"));
  msg = error_of([&] { ChunkedCache(c, chunked_ratio(8, 0.0), kBatch, at::kFloat, at::kCPU); });
  CHECK(contains(msg, "--compression-ratio"));
  // Profiles that do not fit the model.
  LlamaConfig other = c;
  other.num_kv_heads = 4;
  msg = error_of([&] { make_kv_profile(make_profiles(m, 6, "a=8"), other, at::kFloat, at::kCPU); });
  CHECK(contains(msg, "KV heads"));
  // attend twice for one layer without advance.
  SvdCache svd(small, c, svd_options(KeySpace::PreRope, 6, "low=2,med=4,high=8", "step"), kBatch,
               at::kFloat, at::kCPU);
  const at::Tensor q = at::zeros({kBatch, c.num_heads, 1, c.head_dim});
  const at::Tensor kv = at::zeros({kBatch, c.num_kv_heads, 1, c.head_dim});
  svd.attend(0, q, kv, kv, m.rope(), m.weights().layers[0].wo);
  CHECK(contains(error_of([&] { svd.attend(0, q, kv, kv, m.rope(), m.weights().layers[0].wo); }),
                 "without advance"));
}

TEST_CASE("bfloat16 caches run and stay close to the bfloat16 full cache at full rank", "[kv]") {
  const LlamaModel m32 = tiny_model(18);
  const LlamaConfig& c = m32.config();
  LlamaWeights w = m32.weights();
  auto to_bf16 = [](at::Tensor& t) { t = t.to(at::kBFloat16); };
  to_bf16(w.embed), to_bf16(w.final_norm), to_bf16(w.lm_head);
  std::vector<at::Tensor> w_o;
  for (LayerWeights& L : w.layers) {
    for (at::Tensor* t : {&L.attn_norm, &L.wq, &L.wk, &L.wv, &L.wo, &L.mlp_norm, &L.w_gate, &L.w_up,
                          &L.w_down})
      to_bf16(*t);
    w_o.push_back(L.wo);
  }
  const LlamaModel m(c, std::move(w), at::kCPU, at::kBFloat16);
  const at::Tensor toks = tokens(12, 14);
  FullCache full(c, kBatch, 0, at::kBFloat16, at::kCPU);
  const at::Tensor ref = run(m, full, toks, 10);
  const KvProfile prof = make_kv_profile(make_profiles(m32, 16, "low=4,med=8,high=16"), c,
                                         at::kBFloat16, at::kCPU);
  // W_O given at construction (the third way to get the fused matrices).
  SvdCache svd(prof, c, svd_options(KeySpace::PostRope, 16, "low=16,med=16,high=16", "step"),
               kBatch, at::kBFloat16, at::kCPU, w_o);
  ChunkedCache ch(c, chunked_ratio(4, 1e-6), kBatch, at::kBFloat16, at::kCPU);
  const double scale = ref.abs().max().item<double>();
  for (KvCache* cache : std::vector<KvCache*>{&svd, &ch}) {
    CAPTURE(cache->name());
    const at::Tensor got = run(m, *cache, toks, 10);
    REQUIRE(got.scalar_type() == at::kFloat);
    INFO("max |diff| " << max_abs_diff(got, ref) << " of max |logit| " << scale);
    CHECK(max_abs_diff(got, ref) < 0.05 * scale);
  }
  svd.shrink_to_fit();  // decode grew the tensors by doubling
  CHECK(svd.layer_bytes()[0] == kBatch * c.num_kv_heads * 14 * (16 + 16) * 2 + 14 * 8);
}

TEST_CASE("static cache: prefill and decode equal the full cache's; decode reads the device length") {
  const LlamaModel m = tiny_model(21);
  const LlamaConfig& c = m.config();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor prompt = at::randint(c.vocab_size, {kBatch, 9}, gen, at::kLong);
  FullCache full(c, kBatch, 0, at::kFloat, at::kCPU);
  StaticFullCache st(c, kBatch, 16, at::kFloat, at::kCPU);
  at::Tensor a = m.forward(prompt, full, true);
  at::Tensor b = m.forward(prompt, st, true);
  CHECK((a - b).abs().max().item<double>() < 1e-5);
  at::Tensor next = a.argmax(-1);  // [B, 1]
  for (int s = 0; s < 5; ++s) {
    a = m.forward(next, full, true, false);
    if (s == 3) st.set_host_length(0);  // a graph replay leaves the host length stale: no matter
    b = m.forward(next, st, true, false);
    if (s == 3) st.set_host_length(13);  // 9 prompt tokens + 4 steps
    INFO("decode step " << s);
    CHECK((a - b).abs().max().item<double>() < 1e-5);
    next = a.argmax(-1);
  }
  CHECK(st.length() == 14);
  CHECK(st.bytes() == 2 * c.num_layers * kBatch * c.num_kv_heads * 16 * c.head_dim * 4);
  std::string msg;
  try {
    m.forward(at::zeros({kBatch, 3}, at::kLong), st, true);
  } catch (const Error& e) {
    msg = e.what();
  }
  CHECK(msg.find("exceed its capacity of 16") != std::string::npos);
}
