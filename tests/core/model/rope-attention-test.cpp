// RoPE against the closed formula and hand-computed llama3 frequencies; causal GQA attention
// against a naive per-query loop; FullCache byte accounting against an independent count.
#include <ATen/ATen.h>

#include <cmath>
#include <vector>

#include "core/kv/full-cache.h"
#include "core/kv/rope.h"
#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

LlamaConfig small_config(int64_t head_dim) {
  LlamaConfig c;
  c.architecture = "LlamaForCausalLM";
  c.vocab_size = 16;
  c.hidden_size = 12;
  c.intermediate_size = 8;
  c.num_layers = 3;
  c.num_heads = 6;
  c.num_kv_heads = 2;
  c.head_dim = head_dim;
  c.rope.theta = 10000.0;
  return c;
}

// Naive attention: for every (b, h, t) the softmax over keys 0 .. S-T+t, in double.
at::Tensor naive_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), d = q.size(3);
  const int64_t Hkv = k.size(1), S = k.size(2), G = Hq / Hkv;
  auto qa = q.to(at::kDouble).contiguous(), ka = k.to(at::kDouble).contiguous(),
       va = v.to(at::kDouble).contiguous();
  auto Q = qa.accessor<double, 4>(), K = ka.accessor<double, 4>(), V = va.accessor<double, 4>();
  at::Tensor out = at::zeros({B, Hq, T, d}, at::kDouble);
  auto O = out.accessor<double, 4>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t g = h / G, last = S - T + t;
        std::vector<double> s(last + 1);
        double mx = -1e300;
        for (int64_t j = 0; j <= last; ++j) {
          double dot = 0;
          for (int64_t x = 0; x < d; ++x) dot += Q[b][h][t][x] * K[b][g][j][x];
          s[j] = dot / std::sqrt(double(d));
          mx = std::max(mx, s[j]);
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int64_t j = 0; j <= last; ++j)
          for (int64_t x = 0; x < d; ++x) O[b][h][t][x] += s[j] / z * V[b][g][j][x];
      }
  return out;
}

}  // namespace

TEST_CASE("rope: default frequencies rotate pairs (i, i+d/2) by pos * theta^(-2i/d)", "[rope]") {
  const int64_t d = 8, T = 5, pos0 = 3;
  LlamaConfig cfg = small_config(d);
  Rope rope(cfg, at::Device(at::kCPU));
  at::manual_seed(1);
  at::Tensor x = at::randn({2, 3, T, d});
  at::Tensor y = rope.apply(x, pos0);
  REQUIRE(y.sizes() == x.sizes());
  REQUIRE(y.scalar_type() == at::kFloat);
  auto X = x.accessor<float, 4>();
  auto Y = y.accessor<float, 4>();
  double max_err = 0;
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 3; ++h)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < d / 2; ++i) {
          const double ang = double(pos0 + t) * std::pow(10000.0, -2.0 * double(i) / double(d));
          const double x1 = X[b][h][t][i], x2 = X[b][h][t][i + d / 2];
          max_err = std::max(max_err, std::abs(Y[b][h][t][i] - (x1 * std::cos(ang) - x2 * std::sin(ang))));
          max_err = std::max(max_err, std::abs(Y[b][h][t][i + d / 2] - (x2 * std::cos(ang) + x1 * std::sin(ang))));
        }
  CAPTURE(max_err);
  CHECK(max_err < 1e-5);

  // explicit positions give the same result as a start offset
  at::Tensor pos = at::arange(pos0, pos0 + T, at::kLong);
  CHECK(at::equal(rope.apply_at(x, pos), y));
  // position 0 is the identity
  CHECK(at::allclose(rope.apply(x.narrow(2, 0, 1), 0), x.narrow(2, 0, 1)));
  // bf16 input stays bf16 and is close to the fp32 rotation
  at::Tensor yb = rope.apply(x.to(at::kBFloat16), pos0);
  CHECK(yb.scalar_type() == at::kBFloat16);
  CHECK((yb.to(at::kFloat) - y).abs().max().item<float>() < 0.05f);
}

TEST_CASE("rope: llama3 scaling matches hand-computed frequencies", "[rope]") {
  // d = 8, theta = 1e4: inv_freq = 1, 0.1, 0.01, 0.001 -> wavelengths 6.28, 62.8, 628.3, 6283.2.
  // original context 1024, low/high factors 1/4: high_freq_wavelen 256, low_freq_wavelen 1024.
  //   6.28, 62.8 < 256: unchanged.   6283.2 > 1024: divided by factor 8 -> 0.000125.
  //   628.3 in between: smooth = (1024/628.3185 - 1)/(4 - 1) = 0.2099155,
  //   (1 - smooth) * 0.01 / 8 + smooth * 0.01 = 0.003086761.
  LlamaConfig cfg = small_config(8);
  cfg.rope.type = RopeType::Llama3;
  cfg.rope.factor = 8;
  cfg.rope.low_freq_factor = 1;
  cfg.rope.high_freq_factor = 4;
  cfg.rope.original_max_position_embeddings = 1024;
  Rope rope(cfg, at::Device(at::kCPU));
  const at::Tensor& f = rope.inv_freq();
  REQUIRE(f.numel() == 4);
  REQUIRE(f.scalar_type() == at::kFloat);
  CHECK(f[0].item<double>() == Approx(1.0).epsilon(1e-6));
  CHECK(f[1].item<double>() == Approx(0.1).epsilon(1e-6));
  CHECK(f[2].item<double>() == Approx(0.003086761).epsilon(1e-6));
  CHECK(f[3].item<double>() == Approx(0.000125).epsilon(1e-6));

  cfg.rope.type = RopeType::Default;
  Rope plain(cfg, at::Device(at::kCPU));
  CHECK(plain.inv_freq()[2].item<double>() == Approx(0.01).epsilon(1e-6));
  CHECK(plain.inv_freq()[3].item<double>() == Approx(0.001).epsilon(1e-6));
}

TEST_CASE("attention: causal GQA equals a naive loop, with and without a cached prefix", "[attention]") {
  at::manual_seed(2);
  for (AttentionKernel kernel : {AttentionKernel::Manual, AttentionKernel::Auto}) {
    set_attention_kernel(kernel);
    for (int64_t T : {1, 4, 9}) {
      const int64_t S = 9;
      at::Tensor q = at::randn({2, 6, T, 8});
      at::Tensor k = at::randn({2, 2, S, 8});
      at::Tensor v = at::randn({2, 2, S, 8});
      at::Tensor got = causal_gqa_attention(q, k, v);
      REQUIRE(got.sizes() == q.sizes());
      const double err = (got.to(at::kDouble) - naive_attention(q, k, v)).abs().max().item<double>();
      INFO("kernel " << int(kernel) << " T " << T << " max err " << err);
      CHECK(err < 1e-5);
    }
  }
  set_attention_kernel(AttentionKernel::Manual);
  REQUIRE_THROWS_AS(causal_gqa_attention(at::randn({1, 5, 2, 8}), at::randn({1, 2, 4, 8}),
                                         at::randn({1, 2, 4, 8})),
                    Error);
  REQUIRE_THROWS_AS(causal_gqa_attention(at::randn({1, 2, 5, 8}), at::randn({1, 2, 4, 8}),
                                         at::randn({1, 2, 4, 8})),
                    Error);
}

TEST_CASE("attention: a long prefill split into query blocks still matches per-row", "[attention]") {
  set_attention_kernel(AttentionKernel::Manual);
  // 1 * 2 * 5800 * 5800 scores > 2^26: the manual path takes two query blocks.
  const int64_t T = 5800, d = 4;
  at::manual_seed(3);
  at::Tensor q = at::randn({1, 2, T, d}), k = at::randn({1, 1, T, d}), v = at::randn({1, 1, T, d});
  at::Tensor got = causal_gqa_attention(q, k, v);
  for (int64_t t : {int64_t(0), int64_t(1), int64_t(5784), int64_t(5785), T - 1}) {
    // row t sees keys 0..t: the same as a T'=1 query over the first t+1 keys
    at::Tensor want = naive_attention(q.narrow(2, t, 1), k.narrow(2, 0, t + 1), v.narrow(2, 0, t + 1));
    const double err = (got.narrow(2, t, 1).to(at::kDouble) - want).abs().max().item<double>();
    INFO("row " << t << " err " << err);
    CHECK(err < 1e-5);
  }
}

TEST_CASE("full cache: bytes are the storage really allocated, growing by doubling", "[full-cache]") {
  set_attention_kernel(AttentionKernel::Manual);
  LlamaConfig cfg = small_config(4);  // 3 layers, Hkv 2, d 4
  const int64_t B = 2, Hq = cfg.num_heads, Hkv = cfg.num_kv_heads, d = cfg.head_dim;
  FullCache cache(cfg, B, 4, at::kFloat, at::Device(at::kCPU));
  Rope rope(cfg, at::Device(at::kCPU));
  // per layer: K and V of [B, Hkv, capacity, d] float32
  auto expect = [&](int64_t cap) { return 2 * B * Hkv * cap * d * int64_t(sizeof(float)); };
  REQUIRE(cache.layer_bytes() == std::vector<int64_t>(3, expect(4)));
  at::Tensor w_o = at::randn({cfg.hidden_size, Hq * d});
  auto step = [&](int64_t T) {
    for (int64_t l = 0; l < cfg.num_layers; ++l) {
      at::Tensor out = cache.attend(l, at::randn({B, Hq, T, d}), at::randn({B, Hkv, T, d}),
                                    at::randn({B, Hkv, T, d}), rope, w_o);
      REQUIRE(out.sizes() == at::IntArrayRef({B, T, cfg.hidden_size}));
    }
    cache.advance(T);
  };
  step(3);
  CHECK(cache.length() == 3);
  CHECK(cache.bytes() == 3 * expect(4));
  step(2);  // 5 > 4: doubles to 8
  CHECK(cache.layer_bytes() == std::vector<int64_t>(3, expect(8)));
  step(10);  // 15 > 8: doubles to 16
  CHECK(cache.length() == 15);
  CHECK(cache.bytes() == 3 * expect(16));
  step(20);  // 35 > 2*16: grows to exactly 35
  CHECK(cache.bytes() == 3 * expect(35));
  cache.reset();
  CHECK(cache.length() == 0);
  CHECK(cache.bytes() == 3 * expect(35));  // reset keeps the allocation

  FullCache empty(cfg, 1, 0, at::kBFloat16, at::Device(at::kCPU));
  CHECK(empty.bytes() == 0);
  CHECK(storage_bytes(at::Tensor()) == 0);
  at::Tensor big = at::zeros({10, 10}, at::kHalf);
  CHECK(storage_bytes(big.narrow(0, 0, 2)) == 200);  // the whole storage, not the view
}
