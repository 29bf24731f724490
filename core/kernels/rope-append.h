// RoPE of one decode token's q and k from a RopeTable, with k and v appended to a fixed-capacity
// cache at the token's position (CUDA kernel, or its ATen reference elsewhere).
#pragma once
#include <ATen/ATen.h>

#include "core/kernels/rope-table.h"

namespace kvsvd {

// q: [B, Hq, d], k, v: [B, Hkv, d] (rows of any batch stride, head stride d, e.g. views of one
// fused QKV output); positions: [B] int32 on the cache's device. Writes RoPE(k) and v at row
// positions[b] of k_cache, v_cache [B, Hkv, capacity, d]; returns RoPE(q) [B, Hq, d] contiguous.
// No host synchronisation (graph-capturable). Positions must be < capacity and < table.rows().
at::Tensor rope_append(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                       const RopeTable& table, const at::Tensor& positions, at::Tensor& k_cache,
                       at::Tensor& v_cache);
at::Tensor rope_append_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 const RopeTable& table, const at::Tensor& positions,
                                 at::Tensor& k_cache, at::Tensor& v_cache);

}  // namespace kvsvd
