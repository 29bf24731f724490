// Turns one layer's weights or K/V moments into a LayerProfile (bases, spectra, energy, ranks).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

#include "core/compress/layer-profile.h"
#include "core/compress/profile-method.h"
#include "core/compress/rank-plan.h"

namespace kvsvd {

// The attention geometry the maths needs (kept apart from LlamaConfig so compress stays a
// ground-floor module).
struct AttentionShape {
  int64_t num_heads = 0;     // query heads Hq
  int64_t num_kv_heads = 0;  // KV heads Hkv (Hq % Hkv == 0)
  int64_t head_dim = 0;      // d
  int64_t hidden = 0;        // model width
};

struct CompressSpec {
  ProfileMethod method = ProfileMethod::WeightSvd;
  KeySpace key_space = KeySpace::PreRope;
  RankSpec ranks;
  bool store_fused = false;  // also store W̃_O per query head
};

// Checks the spec against the shape (ranks <= head_dim, post_rope only with activation_pca) and
// fills the rank defaults. Errors name the flag.
CompressSpec resolve_compress_spec(const CompressSpec& spec, const AttentionShape& shape);

struct LayerInputs {
  at::Tensor wk, wv;          // [Hkv*d, hidden] k_proj / v_proj weights (weight_svd)
  at::Tensor key_moment;      // [Hkv, d, d] float64 Σ k kᵀ over calibration tokens (activation_pca)
  at::Tensor value_moment;    // [Hkv, d, d] float64 Σ v vᵀ
  int64_t tokens = 0;         // tokens behind the moments (per head)
  at::Tensor wo;              // [hidden, Hq*d] o_proj weight (store_fused)
};

// `spec` must come from resolve_compress_spec. Spectra: singular values of the head block
// (weight_svd) or eigenvalues of the mean second moment Σ x xᵀ / tokens (activation_pca).
// Errors (key_error / value_error) only for activation_pca: sqrt(Σ_{i>r} λ_i / Σ λ_i) at the
// head's rank, exact for the calibration data.
LayerProfile decompose_layer(int64_t layer, const AttentionShape& shape, const CompressSpec& spec,
                             const LayerInputs& in);

// A profile's bases as tensors: [n_kv, head_dim, key_rank] / [n_kv, head_dim, value_rank] float32
// CPU (copies), for caches and tests.
at::Tensor key_basis_tensor(const LayerProfile& p);
at::Tensor value_basis_tensor(const LayerProfile& p);

}  // namespace kvsvd
