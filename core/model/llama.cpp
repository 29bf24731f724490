// Llama forward pass in ATen, written to follow transformers' LlamaForCausalLM operation order
// (RMSNorm in float32, RoPE via the cache, SwiGLU), so that logits can be compared against it.
#include "core/model/llama.h"

#include <c10/core/GradMode.h>

#include "core/checkpoint/tensor-load.h"
#include "core/model/llama-layer.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

void check_shape(const at::Tensor& t, const std::vector<int64_t>& expect, const std::string& what) {
  KVSVD_CHECK(t.defined(), "llama weights: ", what, " is missing");
  KVSVD_CHECK(t.sizes() == at::IntArrayRef(expect), "llama weights: ", what, " has shape ",
              t.sizes(), ", expected ", at::IntArrayRef(expect));
}

}  // namespace

LlamaWeights load_llama_weights(const Checkpoint& ckpt, at::ScalarType dtype, at::Device device) {
  const LlamaConfig& c = ckpt.config();
  const int64_t H = c.hidden_size, V = c.vocab_size;
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
  for (int64_t l = 0; l < c.num_layers; ++l) w.layers[l] = load_layer_weights(ckpt, l, dtype, device);
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
  const int64_t T = tokens.size(1);
  // Checked where the ids are (usually the CPU) so that decode does not sync the device.
  if (check_ids) check_token_ids(tokens, cfg_.vocab_size);
  at::Tensor ids = tokens.to(device_, at::kLong);  // [B, T]
  at::Tensor h = llama_embed(w_.embed, ids);       // [B, T, hidden]
  const KvObserver* obs = observer_ ? &observer_ : nullptr;
  for (int64_t l = 0; l < cfg_.num_layers; ++l)
    h = llama_layer(cfg_, w_.layers[l], *rope_, h, cache, l, obs, l);  // [B, T, hidden]
  cache.advance(T);
  return llama_head(h, w_.final_norm, w_.lm_head, cfg_.rms_norm_eps, last_only);  // [B,T|1,V]
}

}  // namespace kvsvd
