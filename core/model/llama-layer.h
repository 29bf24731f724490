// The pieces of the Llama forward pass (embedding, one decoder layer, final norm + head) as free
// functions, so that the whole model and a pipeline stage's slice of layers run the same ops.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <functional>

#include "core/checkpoint/checkpoint.h"
#include "core/kv/kv-cache.h"

namespace kvsvd {

struct LayerWeights;

// Observer of each layer's pre-RoPE keys and values (calibration): k, v are [B, Hkv, T, d].
using KvObserver = std::function<void(int64_t layer, const at::Tensor& k, const at::Tensor& v)>;

// transformers LlamaRMSNorm. x: [..., hidden], weight: [hidden] -> [..., hidden] in x's dtype.
at::Tensor llama_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// ids: [B, T] int64 on the model's device -> [B, T, hidden].
at::Tensor llama_embed(const at::Tensor& embed, const at::Tensor& ids);

// One decoder layer. h: [B, T, hidden] -> [B, T, hidden]. `cache_layer` is the layer's index in
// `cache` (a pipeline stage's cache numbers its own layers from 0); `observed_layer` the model's.
at::Tensor llama_layer(const LlamaConfig& cfg, const LayerWeights& L, const Rope& rope,
                       const at::Tensor& h, KvCache& cache, int64_t cache_layer,
                       const KvObserver* observer, int64_t observed_layer);

// Final norm and head. h: [B, T, hidden] -> logits [B, T or 1, vocab] float32 (`last_only`: the
// last position only).
at::Tensor llama_head(const at::Tensor& h, const at::Tensor& final_norm, const at::Tensor& lm_head,
                      double eps, bool last_only);

// Checks that ids [B, T] lie in [0, vocab) (a host sync when they live on the GPU).
void check_token_ids(const at::Tensor& tokens, int64_t vocab);

// Reads layer `l`'s tensors from the checkpoint (shapes checked, errors name tensor and file).
LayerWeights load_layer_weights(const Checkpoint& ckpt, int64_t l, at::ScalarType dtype,
                                at::Device device);

}  // namespace kvsvd
