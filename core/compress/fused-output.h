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

}  // namespace kvsvd
