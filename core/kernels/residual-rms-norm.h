// Fused residual add + RMSNorm of the decode step (CUDA kernel, or its ATen reference elsewhere).
#pragma once
#include <ATen/ATen.h>

namespace kvsvd {

// h: [..., hidden] (contiguous) becomes h + delta in place when delta is defined; returns
// weight * rms_norm(h) [..., hidden] in h's dtype, with transformers' LlamaRMSNorm rounding
// (variance in float32, the normalised value cast back before the weight).
at::Tensor residual_rms_norm(at::Tensor& h, const at::Tensor& delta, const at::Tensor& weight,
                             double eps);
// The same in ATen operations (the CPU path, and what the kernel is tested against).
at::Tensor residual_rms_norm_reference(at::Tensor& h, const at::Tensor& delta,
                                       const at::Tensor& weight, double eps);

}  // namespace kvsvd
