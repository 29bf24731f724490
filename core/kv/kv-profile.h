// A profile store's per-layer bases as device tensors, ready for the svd cache.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "core/checkpoint/llama-config.h"
#include "core/compress/layer-profile.h"

namespace kvsvd {

struct KvLayerProfile {
  at::Tensor key_basis;     // [Hkv, d, key_rank]   orthonormal columns, descending energy
  at::Tensor value_basis;   // [Hkv, d, value_rank] nested: first r columns = rank-r basis
  at::Tensor fused_output;  // [Hq, hidden, value_rank] W_O[:, i] · P_V(g(i)), or undefined when
                            //   the store holds none (the cache then fuses from the model's W_O)
  std::vector<int64_t> key_head_rank;    // [Hkv] the rank allocated to each head (<= key_rank)
  std::vector<int64_t> value_head_rank;  // [Hkv] (<= value_rank); what --head-ranks caches use
};

struct KvProfile {
  int64_t key_rank = 0;    // columns per key basis (the store's maximum usable key rank)
  int64_t value_rank = 0;  // columns per value basis (the store's maximum value rank)
  std::vector<KvLayerProfile> layers;  // index = layer
};

// Converts one LayerProfile per model layer (in layer order) to `dtype` tensors on `device`,
// checking every array against the model config (layer index, KV heads, head_dim, hidden, sizes).
// Errors name the layer and the array.
KvProfile make_kv_profile(const std::vector<LayerProfile>& layers, const LlamaConfig& cfg,
                          at::ScalarType dtype, at::Device device);

}  // namespace kvsvd
