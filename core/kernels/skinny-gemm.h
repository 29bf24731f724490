// The linear layers of a decode step: a skinny-GEMM kernel for batches of up to 4 rows on CUDA
// (where cuBLAS reads the weights well below the copy bandwidth), at::linear elsewhere.
#pragma once
#include <ATen/ATen.h>

namespace kvsvd {

// x: [M, K], w: [N, K], b: [N] or undefined -> [M, N] in x's dtype (at::linear's contract).
at::Tensor decode_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b = {});
// The ATen reference the kernel is tested against (at::linear).
at::Tensor decode_linear_reference(const at::Tensor& x, const at::Tensor& w,
                                   const at::Tensor& b = {});

}  // namespace kvsvd
