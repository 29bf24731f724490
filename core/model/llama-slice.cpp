// A stage's slice of a Llama: the same forward pieces as LlamaModel (core/model/llama-layer), so
// a layer computes the same bits whichever stage runs it.
#include "core/model/llama-slice.h"

#include <c10/core/GradMode.h>

#include "core/checkpoint/tensor-load.h"
#include "core/model/llama-layer.h"
#include "core/util/error.h"

namespace kvsvd {

LlamaSlice::LlamaSlice(LlamaConfig cfg, StageSlice slice, at::Device device, at::ScalarType dtype)
    : cfg_(std::move(cfg)), local_cfg_(cfg_), slice_(slice), device_(device), dtype_(dtype) {
  local_cfg_.num_layers = slice_.layers();
}

LlamaSlice LlamaSlice::load(const Checkpoint& ckpt, const StageSlice& s, at::Device device,
                            at::ScalarType dtype) {
  const LlamaConfig& c = ckpt.config();
  KVSVD_CHECK(s.first_layer >= 0 && s.first_layer < s.end_layer && s.end_layer <= c.num_layers,
              "pipeline stage ", s.stage, ": layers [", s.first_layer, ", ", s.end_layer,
              ") outside the model's ", c.num_layers);
  KVSVD_CHECK(c.num_heads > 0 && c.num_kv_heads > 0 && c.num_heads % c.num_kv_heads == 0,
              "llama: num_attention_heads ", c.num_heads,
              " must be a positive multiple of num_key_value_heads ", c.num_kv_heads);
  LlamaSlice m(c, s, device, dtype);
  const int64_t H = c.hidden_size, V = c.vocab_size;
  if (s.embed) m.embed_ = load_tensor(ckpt, "model.embed_tokens.weight", dtype, device, {V, H});
  if (s.head) {
    m.final_norm_ = load_tensor(ckpt, "model.norm.weight", dtype, device, {H});
    if (c.tie_word_embeddings) {
      // Tied: the head is the embedding (shared storage when this stage holds both).
      m.lm_head_ = m.embed_.defined()
                       ? m.embed_
                       : load_tensor(ckpt, "model.embed_tokens.weight", dtype, device, {V, H});
    } else {
      KVSVD_CHECK(ckpt.has("lm_head.weight"), ckpt.dir(),
                  ": lm_head.weight missing and tie_word_embeddings is false in config.json");
      m.lm_head_ = load_tensor(ckpt, "lm_head.weight", dtype, device, {V, H});
    }
  }
  for (int64_t l = s.first_layer; l < s.end_layer; ++l)
    m.layers_.push_back(load_layer_weights(ckpt, l, dtype, device));
  m.rope_ = std::make_shared<Rope>(c, device);
  return m;
}

at::Tensor LlamaSlice::embed(const at::Tensor& tokens, bool check_ids) const {
  c10::NoGradGuard no_grad;
  KVSVD_CHECK(embed_.defined(), "pipeline stage ", slice_.stage, " holds no embedding");
  KVSVD_CHECK(tokens.dim() == 2 && tokens.size(1) > 0,
              "llama forward: tokens must be [B, T] with T > 0, got ", tokens.sizes());
  if (check_ids) check_token_ids(tokens, cfg_.vocab_size);
  return llama_embed(embed_, tokens.to(device_, at::kLong));  // [B, T, hidden]
}

at::Tensor LlamaSlice::layers(const at::Tensor& h_in, KvCache& cache) const {
  c10::NoGradGuard no_grad;
  at::Tensor h = h_in;  // [B, T, hidden]
  for (int64_t i = 0; i < slice_.layers(); ++i)
    h = llama_layer(cfg_, layers_[i], *rope_, h, cache, i, nullptr, slice_.first_layer + i);
  cache.advance(h_in.size(1));
  return h;
}

at::Tensor LlamaSlice::head(const at::Tensor& h, bool last_only) const {
  c10::NoGradGuard no_grad;
  KVSVD_CHECK(lm_head_.defined(), "pipeline stage ", slice_.stage, " holds no head");
  return llama_head(h, final_norm_, lm_head_, cfg_.rms_norm_eps, last_only);
}

}  // namespace kvsvd
