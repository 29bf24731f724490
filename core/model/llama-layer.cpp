// Llama forward pieces in ATen, written to follow transformers' LlamaForCausalLM operation order
// (RMSNorm in float32, RoPE via the cache, SwiGLU), so that logits can be compared against it.
#include "core/model/llama-layer.h"

#include "core/checkpoint/tensor-load.h"
#include "core/model/llama.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

at::Tensor bias_or_none(const Checkpoint& ckpt, const LlamaConfig& cfg, int64_t layer,
                        const char* suffix, int64_t size, at::ScalarType dtype,
                        at::Device device) {
  if (!cfg.qkv_bias) return at::Tensor();
  return load_tensor(ckpt, layer_tensor_name(layer, suffix), dtype, device, {size});
}

}  // namespace

at::Tensor llama_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  // Variance in float32, normalised value cast back before the weight (as transformers).
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * at::rsqrt(variance + eps);
  return weight * xf.to(x.scalar_type());
}

at::Tensor llama_embed(const at::Tensor& embed, const at::Tensor& ids) {
  return at::embedding(embed, ids);  // [B, T, hidden]
}

at::Tensor llama_layer(const LlamaConfig& cfg, const LayerWeights& L, const Rope& rope,
                       const at::Tensor& h_in, KvCache& cache, int64_t cache_layer,
                       const KvObserver* observer, int64_t observed_layer) {
  const int64_t B = h_in.size(0), T = h_in.size(1);
  const int64_t Hq = cfg.num_heads, Hkv = cfg.num_kv_heads, d = cfg.head_dim;
  const double eps = cfg.rms_norm_eps;
  at::Tensor h = h_in;
  at::Tensor x = llama_rms_norm(h, L.attn_norm, eps);                                 // [B,T,hidden]
  at::Tensor q = at::linear(x, L.wq, L.bq).view({B, T, Hq, d}).transpose(1, 2);      // [B,Hq,T,d]
  at::Tensor k = at::linear(x, L.wk, L.bk).view({B, T, Hkv, d}).transpose(1, 2);     // [B,Hkv,T,d]
  at::Tensor v = at::linear(x, L.wv, L.bv).view({B, T, Hkv, d}).transpose(1, 2);     // [B,Hkv,T,d]
  if (observer && *observer) (*observer)(observed_layer, k, v);
  h = h + cache.attend(cache_layer, q, k, v, rope, L.wo);                             // [B,T,hidden]
  x = llama_rms_norm(h, L.mlp_norm, eps);
  at::Tensor mlp = at::linear(at::silu(at::linear(x, L.w_gate)) * at::linear(x, L.w_up), L.w_down);
  return h + mlp;
}

at::Tensor llama_head(const at::Tensor& h_in, const at::Tensor& final_norm,
                      const at::Tensor& lm_head, double eps, bool last_only) {
  at::Tensor h = h_in;
  if (last_only) h = h.narrow(1, h.size(1) - 1, 1);  // [B, 1, hidden]
  h = llama_rms_norm(h, final_norm, eps);
  return at::linear(h, lm_head).to(at::kFloat);  // [B, T or 1, vocab]
}

void check_token_ids(const at::Tensor& tokens, int64_t vocab) {
  // An out-of-range id would otherwise be an opaque index error (or a device assert on CUDA).
  const int64_t lo = tokens.min().item<int64_t>(), hi = tokens.max().item<int64_t>();
  KVSVD_CHECK(lo >= 0 && hi < vocab, "llama forward: token id out of range [0, ", vocab,
              "): min ", lo, ", max ", hi);
}

LayerWeights load_layer_weights(const Checkpoint& ckpt, int64_t l, at::ScalarType dtype,
                                at::Device device) {
  const LlamaConfig& c = ckpt.config();
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  LayerWeights L;
  auto ld = [&](const char* suffix, std::vector<int64_t> shape) {
    return load_tensor(ckpt, layer_tensor_name(l, suffix), dtype, device, shape);
  };
  L.attn_norm = ld("input_layernorm.weight", {H});
  L.wq = ld("self_attn.q_proj.weight", {qd, H});
  L.wk = ld("self_attn.k_proj.weight", {kvd, H});
  L.wv = ld("self_attn.v_proj.weight", {kvd, H});
  L.wo = ld("self_attn.o_proj.weight", {H, qd});
  // transformers' Llama puts a bias on o_proj too when attention_bias is set; the forward has
  // no place for it, so refuse rather than drop it.
  KVSVD_CHECK(!ckpt.has(layer_tensor_name(l, "self_attn.o_proj.bias")), ckpt.dir(), ": ",
              layer_tensor_name(l, "self_attn.o_proj.bias"), " is not supported (o_proj bias)");
  L.bq = bias_or_none(ckpt, c, l, "self_attn.q_proj.bias", qd, dtype, device);
  L.bk = bias_or_none(ckpt, c, l, "self_attn.k_proj.bias", kvd, dtype, device);
  L.bv = bias_or_none(ckpt, c, l, "self_attn.v_proj.bias", kvd, dtype, device);
  L.mlp_norm = ld("post_attention_layernorm.weight", {H});
  L.w_gate = ld("mlp.gate_proj.weight", {I, H});
  L.w_up = ld("mlp.up_proj.weight", {I, H});
  L.w_down = ld("mlp.down_proj.weight", {H, I});
  return L;
}

}  // namespace kvsvd
