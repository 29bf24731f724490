// One KV head's orthonormal basis and spectrum: SVD of a weight block or eigh of a second moment.
#pragma once
#include <ATen/ATen.h>

#include <vector>

namespace kvsvd {

// Decompositions always run on the CPU in float64, whatever the device and dtype of the input:
// the matrices are small (d×hidden, d×d), and float64 on one device makes the bases reproducible
// bit for bit across ranks, devices and runs (float32 CUDA SVD/eigh would not be).
struct HeadBasis {
  at::Tensor basis;              // [d, d] float64 CPU: orthonormal columns, descending energy
  at::Tensor spectrum;           // [d] float64 CPU: singular values or eigenvalues, descending
  std::vector<double> energies;  // [d] per-direction energy: s_i² (SVD) or max(λ_i, 0) (eigh)
};

// Makes each column's largest-|.| entry positive (first such entry on ties), so that the
// arbitrary ±1 of SVD/eigh does not reach the stored bases. u: [d, r] float64 CPU, in place.
void normalise_signs(at::Tensor& u);

// Left singular vectors of w: [d, hidden] (one head's rows of k_proj / v_proj). When hidden < d
// the basis is completed to d columns and the missing singular values are 0.
HeadBasis weight_head_basis(const at::Tensor& w);

// Eigenvectors of a symmetric positive semi-definite moment: [d, d] (Σ x xᵀ / tokens).
HeadBasis moment_head_basis(const at::Tensor& moment);

}  // namespace kvsvd
