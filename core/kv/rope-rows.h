// RoPE of one decode token per sequence at device positions, from a RopeTable: the ATen path the
// fixed-capacity compressed caches use where the fused rope-append kernel does not fit their
// layout (it writes full-width rows).
#pragma once
#include <ATen/ATen.h>

#include "core/kernels/rope-table.h"

namespace kvsvd {

// x: [..., d] -> cat(-x2, x1): HF's rotate_half, as Rope::apply uses it.
at::Tensor rotate_half_rows(const at::Tensor& x);
// x: [B, H, d] at positions pos [B] int32 on x's device -> RoPE(x), same shape and dtype.
at::Tensor rope_rows(const at::Tensor& x, const RopeTable& table, const at::Tensor& pos);

}  // namespace kvsvd
