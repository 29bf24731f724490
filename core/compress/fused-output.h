// The fused output projection W̃_O[:, i] = W_O[:, i*d:(i+1)*d] · P_V(g(i)), shared by the profile
// stage (stored in the profile) and the compressed KV caches (computed on load).
#pragma once
#include <ATen/ATen.h>

namespace kvsvd {

// w_o:         [hidden, Hq*d]  the layer's o_proj weight
// value_basis: [Hkv, d, r]     per KV head, orthonormal columns
// returns      [Hq, hidden, r] query head i uses KV head g(i) = i / (Hq / Hkv)
// Computed in the promoted dtype of the two inputs on w_o's device (both must share a device).
at::Tensor fused_output(const at::Tensor& w_o, const at::Tensor& value_basis, int64_t num_heads);

// The fused matrices the caches attend with, from a model's o_proj weight (any dtype): computed
// in float32 on w_o's device, so the product of two rounded matrices is rounded only once, when
// the caller converts it to the cache dtype. Returns [Hq, hidden, r] float32. (The profile stage
// stores fused_output of its float64 bases instead; see layer-decompose.)
at::Tensor fused_output_f32(const at::Tensor& w_o, const at::Tensor& value_basis,
                            int64_t num_heads);

}  // namespace kvsvd
