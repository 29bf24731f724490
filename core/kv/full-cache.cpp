// The uncompressed cache and the causal GQA attention kernel it (and other full-key caches) use.
#include "core/kv/full-cache.h"

#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/util/error.h"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define KVSVD_HAVE_SDPA_GQA 1  // scaled_dot_product_attention with `scale` and `enable_gqa`
#else
#define KVSVD_HAVE_SDPA_GQA 0
#endif

namespace kvsvd {
namespace {

// -1: not yet read from the environment; else an AttentionKernel value.
std::atomic<int> g_kernel{-1};

// Above this many score elements per call the manual path splits the queries into blocks, so
// a long prefill does not materialise a [B, Hq, T, S] float32 matrix at once.
constexpr int64_t kMaxScoreElements = int64_t(1) << 26;

// q [B,Hq,T,d], k/v [B,Hkv,S,d] -> [B,Hq,T,d]; transformers' eager order: scores in q's dtype,
// scaled, masked, softmax in float32, cast back, times V.
at::Tensor manual_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), d = q.size(3);
  const int64_t Hkv = k.size(1), S = k.size(2), G = Hq / Hkv;
  if (T > 1 && B * Hq * T * S > kMaxScoreElements) {
    // Query block [t0, t0+n) sits at positions S-T+t0 ..; later keys are masked for all of it.
    const int64_t block = std::max<int64_t>(1, kMaxScoreElements / (B * Hq * S));
    std::vector<at::Tensor> parts;
    for (int64_t t0 = 0; t0 < T; t0 += block) {
      const int64_t n = std::min(block, T - t0);
      const int64_t keys = S - T + t0 + n;
      parts.push_back(manual_attention(q.narrow(2, t0, n), k.narrow(2, 0, keys),
                                       v.narrow(2, 0, keys)));
    }
    return at::cat(parts, 2);
  }
  // Query head h reads KV head h / G (transformers' repeat_kv order), so [B,Hq,T,d] viewed as
  // [B,Hkv,G*T,d] lines each group up with its KV head without copying K or V G times.
  at::Tensor qg = q.reshape({B, Hkv, G * T, d});                                // [B,Hkv,G*T,d]
  const double scale = std::pow(static_cast<double>(d), -0.5);                  // d ** -0.5
  at::Tensor scores = at::matmul(qg, k.transpose(2, 3)) * scale;                // [B,Hkv,G*T,S]
  if (T > 1) {
    // key j is hidden from query t when j > S - T + t
    auto opts = at::TensorOptions().dtype(at::kLong).device(q.device());
    at::Tensor qpos = at::arange(S - T, S, opts).unsqueeze(1);                  // [T, 1]
    at::Tensor kpos = at::arange(0, S, opts).unsqueeze(0);                      // [1, S]
    at::Tensor hidden = kpos > qpos;                                            // [T, S]
    scores = scores.view({B, Hkv, G, T, S})
                 .masked_fill(hidden, -std::numeric_limits<double>::infinity())
                 .view({B, Hkv, G * T, S});
  }
  at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(q.scalar_type());  // [B,Hkv,G*T,S]
  return at::matmul(probs, v).view({B, Hq, T, d});
}

#if KVSVD_HAVE_SDPA_GQA
at::Tensor sdpa_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const int64_t T = q.size(2), S = k.size(2), d = q.size(3);
  const bool gqa = q.size(1) != k.size(1);
  const double scale = std::pow(static_cast<double>(d), -0.5);
  // SDPA's is_causal aligns the mask top-left, which is right only when T == S.
  if (T == S) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, true, scale, gqa);
  // Decode (one query): SDPA re-plans (cuDNN) for every new key length, which cost ~2 ms per
  // layer and step on an H100 (8B shape, 13 tokens/s); the explicit path reads K and V once.
  if (T == 1) return manual_attention(q, k, v);
  auto opts = at::TensorOptions().dtype(at::kLong).device(q.device());
  at::Tensor visible = at::arange(0, S, opts).unsqueeze(0) <= at::arange(S - T, S, opts).unsqueeze(1);
  return at::scaled_dot_product_attention(q, k, v, visible, 0.0, false, scale, gqa);  // [T,S] mask
}
#endif

}  // namespace

at::Tensor sdpa_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 double scale) {
#if KVSVD_HAVE_SDPA_GQA
  const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), S = k.size(2);
  if (T == 1 || attention_kernel() != AttentionKernel::Auto) return at::Tensor();
  KVSVD_CHECK(k.dim() == 4 && v.dim() == 4 && k.size(0) == B && v.size(0) == B &&
                  v.size(2) == S && k.size(1) == v.size(1) && Hq % k.size(1) == 0 &&
                  q.size(3) == k.size(3) && T <= S,
              "sdpa attention: q ", q.sizes(), ", k ", k.sizes(), ", v ", v.sizes(),
              " do not fit together");
  const int64_t G = Hq / k.size(1);
  auto expand = [&](const at::Tensor& x) {  // [B,Hkv,S,w] -> [B,Hq,S,w], head h reads h / G
    if (G == 1) return x;
    return x.unsqueeze(2).expand({B, x.size(1), G, S, x.size(3)}).reshape({B, Hq, S, x.size(3)});
  };
  const at::Tensor ke = expand(k), ve = expand(v);
  if (T == S) return at::scaled_dot_product_attention(q, ke, ve, {}, 0.0, true, scale);
  auto opts = at::TensorOptions().dtype(at::kLong).device(q.device());
  at::Tensor visible = at::arange(0, S, opts).unsqueeze(0) <= at::arange(S - T, S, opts).unsqueeze(1);
  return at::scaled_dot_product_attention(q, ke, ve, visible, 0.0, false, scale);  // [T,S] mask
#else
  (void)q, (void)k, (void)v, (void)scale;
  return at::Tensor();
#endif
}

void set_attention_kernel(AttentionKernel kernel) { g_kernel.store(static_cast<int>(kernel)); }

AttentionKernel attention_kernel() {
  int k = g_kernel.load();
  if (k < 0) {
    const char* env = std::getenv("KVSVD_ATTENTION");
    AttentionKernel from_env = AttentionKernel::Auto;
    if (env != nullptr && *env != '\0') {
      KVSVD_CHECK(std::strcmp(env, "manual") == 0 || std::strcmp(env, "auto") == 0,
                  "environment variable KVSVD_ATTENTION must be 'auto' or 'manual', got '", env,
                  "'");
      if (std::strcmp(env, "manual") == 0) from_env = AttentionKernel::Manual;
    }
    int expected = -1;
    g_kernel.compare_exchange_strong(expected, static_cast<int>(from_env));
    k = g_kernel.load();
  }
  return static_cast<AttentionKernel>(k);
}

at::Tensor causal_gqa_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  KVSVD_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
              "attention: expected q [B,Hq,T,d], k and v [B,Hkv,S,d]; got ", q.sizes(), ", ",
              k.sizes(), ", ", v.sizes());
  KVSVD_CHECK(k.sizes() == v.sizes(), "attention: k ", k.sizes(), " and v ", v.sizes(),
              " differ in shape");
  KVSVD_CHECK(q.size(0) == k.size(0) && q.size(3) == k.size(3),
              "attention: q ", q.sizes(), " and k ", k.sizes(), " disagree in batch or head_dim");
  KVSVD_CHECK(k.size(1) > 0 && q.size(1) % k.size(1) == 0, "attention: ", q.size(1),
              " query heads are not a multiple of ", k.size(1), " KV heads");
  KVSVD_CHECK(q.size(2) <= k.size(2), "attention: ", q.size(2), " queries but only ", k.size(2),
              " keys (queries sit at the last positions)");
  KVSVD_CHECK(q.scalar_type() == k.scalar_type() && k.scalar_type() == v.scalar_type(),
              "attention: q, k, v dtypes differ");
#if KVSVD_HAVE_SDPA_GQA
  if (attention_kernel() == AttentionKernel::Auto) return sdpa_attention(q, k, v);
#endif
  return manual_attention(q, k, v);
}

FullCache::FullCache(const LlamaConfig& cfg, int64_t batch, int64_t capacity,
                     at::ScalarType dtype, at::Device device)
    : cfg_(cfg) {
  KVSVD_CHECK(batch > 0, "full cache: batch must be > 0, got ", batch);
  KVSVD_CHECK(capacity >= 0, "full cache: capacity must be >= 0, got ", capacity);
  KVSVD_CHECK(cfg.num_layers > 0 && cfg.num_kv_heads > 0 && cfg.head_dim > 0,
              "full cache: config has no layers, KV heads or head_dim");
  // Capacity 0 still allocates [B,Hkv,0,d] tensors: they carry batch, dtype and device for growth.
  auto opts = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    k_.push_back(at::empty({batch, cfg.num_kv_heads, capacity, cfg.head_dim}, opts));
    v_.push_back(at::empty({batch, cfg.num_kv_heads, capacity, cfg.head_dim}, opts));
  }
}

at::Tensor FullCache::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                             const at::Tensor& v, const Rope& rope, const at::Tensor& w_o) {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(k_.size()), "full cache: layer ", layer,
              " out of range [0, ", k_.size(), ")");
  at::Tensor& kc = k_[layer];  // [B, Hkv, capacity, d]
  at::Tensor& vc = v_[layer];
  KVSVD_CHECK(k.dim() == 4 && k.size(0) == kc.size(0) && k.size(1) == kc.size(1) &&
                  k.size(3) == kc.size(3) && v.sizes() == k.sizes(),
              "full cache: layer ", layer, " expected k, v [", kc.size(0), ", ", kc.size(1),
              ", T, ", kc.size(3), "], got ", k.sizes(), " and ", v.sizes());
  const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), d = q.size(3);
  const int64_t need = len_ + T;
  at::Tensor qr = rope.apply(q, len_).to(kc.scalar_type());  // [B, Hq, T, d]
  append_rows(kc, len_, rope.apply(k, len_), 2);             // post-RoPE keys
  append_rows(vc, len_, v, 2);
  at::Tensor out = causal_gqa_attention(qr, kc.narrow(2, 0, need), vc.narrow(2, 0, need));
  out = out.transpose(1, 2).reshape({B, T, Hq * d});  // [B, T, Hq*d]
  return at::linear(out, w_o);                         // [B, T, hidden]
}

std::vector<int64_t> FullCache::layer_bytes() const {
  std::vector<int64_t> out;
  out.reserve(k_.size());
  for (size_t l = 0; l < k_.size(); ++l) out.push_back(storage_bytes(k_[l]) + storage_bytes(v_[l]));
  return out;
}

}  // namespace kvsvd
