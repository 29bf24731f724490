// A fixed orthogonal Hadamard rotation of a coefficient space (--hadamard): spreads outlier
// coordinates over the whole group before quantization.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace kvsvd {

// [n, n] orthonormal: block-diagonal normalized Sylvester Hadamard matrices, one per set bit of n
// from the largest block down (n = 48: H32 ⊕ H16), so any n >= 1 works (a power of two is one
// full Hadamard). H Hᵀ = I.
at::Tensor hadamard_rotation(int64_t n, at::ScalarType dtype, at::Device device);

}  // namespace kvsvd
