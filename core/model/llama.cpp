// Llama forward pass in ATen, written to follow transformers' LlamaForCausalLM operation order
// (RMSNorm in float32, RoPE via the cache, SwiGLU), so that logits can be compared against it.
#include "core/model/llama.h"

#include <c10/core/GradMode.h>

#include "core/checkpoint/tensor-load.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

// transformers LlamaRMSNorm: variance in float32, normalised value cast back before the weight.
// x: [..., hidden], weight: [hidden] -> [..., hidden] in x's dtype.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * at::rsqrt(variance + eps);
  return weight * xf.to(x.scalar_type());
}

at::Tensor bias_or_none(const Checkpoint& ckpt, const LlamaConfig& cfg, int64_t layer,
                        const char* suffix, int64_t size, at::ScalarType dtype,
                        at::Device device) {
  if (!cfg.qkv_bias) return at::Tensor();
  return load_tensor(ckpt, layer_tensor_name(layer, suffix), dtype, device, {size});
}

void check_shape(const at::Tensor& t, const std::vector<int64_t>& expect, const std::string& what) {
  KVSVD_CHECK(t.defined(), "llama weights: ", what, " is missing");
  KVSVD_CHECK(t.sizes() == at::IntArrayRef(expect), "llama weights: ", what, " has shape ",
              t.sizes(), ", expected ", at::IntArrayRef(expect));
}

}  // namespace

LlamaWeights load_llama_weights(const Checkpoint& ckpt, at::ScalarType dtype, at::Device device) {
  const LlamaConfig& c = ckpt.config();
  const int64_t H = c.hidden_size, V = c.vocab_size, I = c.intermediate_size;
  const int64_t qd = c.q_dim(), kvd = c.kv_dim();
  LlamaWeights w;
  w.embed = load_tensor(ckpt, "model.embed_tokens.weight", dtype, device, {V, H});
  w.final_norm = load_tensor(ckpt, "model.norm.weight", dtype, device, {H});
  if (c.tie_word_embeddings) {
    w.lm_head = w.embed;  // transformers ties the head to the embedding (same storage)
  } else {
    KVSVD_CHECK(ckpt.has("lm_head.weight"), ckpt.dir(),
                ": lm_head.weight missing and tie_word_embeddings is false in config.json");
    w.lm_head = load_tensor(ckpt, "lm_head.weight", dtype, device, {V, H});
  }
  w.layers.resize(c.num_layers);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerWeights& L = w.layers[l];
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
  }
  return w;
}

LlamaModel::LlamaModel(LlamaConfig cfg, LlamaWeights w, at::Device device, at::ScalarType dtype)
    : cfg_(std::move(cfg)), w_(std::move(w)), device_(device), dtype_(dtype) {
  const int64_t H = cfg_.hidden_size, V = cfg_.vocab_size, I = cfg_.intermediate_size;
  KVSVD_CHECK(cfg_.num_heads > 0 && cfg_.num_kv_heads > 0 && cfg_.num_heads % cfg_.num_kv_heads == 0,
              "llama: num_attention_heads ", cfg_.num_heads,
              " must be a positive multiple of num_key_value_heads ", cfg_.num_kv_heads);
  KVSVD_CHECK(static_cast<int64_t>(w_.layers.size()) == cfg_.num_layers, "llama: weights have ",
              w_.layers.size(), " layers, config says ", cfg_.num_layers);
  check_shape(w_.embed, {V, H}, "embed");
  check_shape(w_.final_norm, {H}, "final_norm");
  check_shape(w_.lm_head, {V, H}, "lm_head");
  for (size_t l = 0; l < w_.layers.size(); ++l) {
    const LayerWeights& L = w_.layers[l];
    const std::string p = cat("layer ", l, " ");
    check_shape(L.attn_norm, {H}, p + "attn_norm");
    check_shape(L.wq, {cfg_.q_dim(), H}, p + "wq");
    check_shape(L.wk, {cfg_.kv_dim(), H}, p + "wk");
    check_shape(L.wv, {cfg_.kv_dim(), H}, p + "wv");
    check_shape(L.wo, {H, cfg_.q_dim()}, p + "wo");
    if (cfg_.qkv_bias) {
      check_shape(L.bq, {cfg_.q_dim()}, p + "bq");
      check_shape(L.bk, {cfg_.kv_dim()}, p + "bk");
      check_shape(L.bv, {cfg_.kv_dim()}, p + "bv");
    }
    check_shape(L.mlp_norm, {H}, p + "mlp_norm");
    check_shape(L.w_gate, {I, H}, p + "w_gate");
    check_shape(L.w_up, {I, H}, p + "w_up");
    check_shape(L.w_down, {H, I}, p + "w_down");
  }
  rope_ = std::make_shared<Rope>(cfg_, device_);
}

LlamaModel LlamaModel::load(const std::string& dir, at::Device device, at::ScalarType dtype) {
  Checkpoint ckpt = Checkpoint::open(dir);
  LlamaWeights w = load_llama_weights(ckpt, dtype, device);
  return LlamaModel(ckpt.config(), std::move(w), device, dtype);
}

at::Tensor LlamaModel::forward(const at::Tensor& tokens, KvCache& cache, bool last_only,
                               bool check_ids) const {
  c10::NoGradGuard no_grad;
  KVSVD_CHECK(tokens.dim() == 2 && tokens.size(1) > 0, "llama forward: tokens must be [B, T] with T > 0, got ",
              tokens.sizes());
  const int64_t B = tokens.size(0), T = tokens.size(1);
  const int64_t Hq = cfg_.num_heads, Hkv = cfg_.num_kv_heads, d = cfg_.head_dim;
  const double eps = cfg_.rms_norm_eps;
  if (check_ids) {
    // An out-of-range id would otherwise be an opaque index error (or a device assert on CUDA);
    // checked where the ids are (usually the CPU) so that decode does not sync the device.
    const int64_t lo = tokens.min().item<int64_t>(), hi = tokens.max().item<int64_t>();
    KVSVD_CHECK(lo >= 0 && hi < cfg_.vocab_size, "llama forward: token id out of range [0, ",
                cfg_.vocab_size, "): min ", lo, ", max ", hi);
  }
  at::Tensor ids = tokens.to(device_, at::kLong);  // [B, T]
  at::Tensor h = at::embedding(w_.embed, ids);  // [B, T, hidden]
  for (int64_t l = 0; l < cfg_.num_layers; ++l) {
    const LayerWeights& L = w_.layers[l];
    at::Tensor x = rms_norm(h, L.attn_norm, eps);                                       // [B,T,hidden]
    at::Tensor q = at::linear(x, L.wq, L.bq).view({B, T, Hq, d}).transpose(1, 2);      // [B,Hq,T,d]
    at::Tensor k = at::linear(x, L.wk, L.bk).view({B, T, Hkv, d}).transpose(1, 2);     // [B,Hkv,T,d]
    at::Tensor v = at::linear(x, L.wv, L.bv).view({B, T, Hkv, d}).transpose(1, 2);     // [B,Hkv,T,d]
    if (observer_) observer_(l, k, v);
    h = h + cache.attend(l, q, k, v, *rope_, L.wo);                                    // [B,T,hidden]
    x = rms_norm(h, L.mlp_norm, eps);
    at::Tensor mlp = at::linear(at::silu(at::linear(x, L.w_gate)) * at::linear(x, L.w_up), L.w_down);
    h = h + mlp;
  }
  cache.advance(T);
  if (last_only) h = h.narrow(1, T - 1, 1);  // [B, 1, hidden]
  h = rms_norm(h, w_.final_norm, eps);
  return at::linear(h, w_.lm_head).to(at::kFloat);  // [B, T or 1, vocab]
}

}  // namespace kvsvd
