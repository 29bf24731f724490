// One KV head's orthonormal basis and spectrum: SVD of a weight block or eigh of a second moment.
#pragma once
#include <ATen/ATen.h>

#include <vector>

namespace kvsvd {

// Decompositions run in float64 whatever the dtype of the input. The eigensolver always runs on the
// CPU (the matrices are d×d), so the bases are reproducible bit for bit across ranks and runs; a
// weight block's Gram matrix W Wᵀ is formed on the block's own device (float64 GEMM), so a CPU and
// a GPU profile of the same weights may differ in the last bits.
struct HeadBasis {
  at::Tensor basis;              // [d, d] float64 CPU: orthonormal columns, descending energy
                                 //   (the encoder A of an output-aware pair: not orthonormal)
  at::Tensor decode;             // [d, d] the decoder B of an output-aware pair (v̂ = B Aᵀ v);
                                 //   undefined when it equals `basis`
  at::Tensor spectrum;           // [d] float64 CPU: singular values or eigenvalues, descending
  std::vector<double> energies;  // [d] per-direction energy: s_i² (SVD) or max(λ_i, 0) (eigh)
};

// Makes each column's largest-|.| entry positive (first such entry on ties), so that the
// arbitrary ±1 of SVD/eigh does not reach the stored bases. u: [d, r] float64 CPU, in place.
void normalise_signs(at::Tensor& u);

// Left singular vectors of each head's block: w [n, d, hidden] on any device -> n bases (one
// k_proj / v_proj head block of d rows each). When hidden < d a basis is completed to d columns
// and the missing singular values are 0. Computed as the eigenvectors of the Gram matrix W Wᵀ
// (d×d) instead of an SVD of the d×hidden block: W's values are bf16/fp32, so their products are
// exact in float64 and W Wᵀ loses nothing that matters at float32 storage, while d×d eigensolves
// are ~100x cheaper than d×hidden SVDs. Singular values are sqrt(max(λ, 0)).
std::vector<HeadBasis> weight_head_bases(const at::Tensor& w);

// Eigenvectors of a symmetric positive semi-definite moment: [d, d] (Σ x xᵀ / tokens).
HeadBasis moment_head_basis(const at::Tensor& moment);

// The rank-nested pair (A, B) minimising E‖L (v − B Aᵀ v)‖² with L = M^{1/2}, M = WᵀW (for values,
// W = the o_proj columns of the query heads reading the KV head, M = Σ_i W_O,iᵀ W_O,i), and
// Σ = E[v vᵀ] = `moment` [d, d]: with C = L Σ L = U Λ Uᵀ (descending), A = L U and B = L⁺ U
// (pseudo-inverse: directions W cannot see are never decoded). The first r columns are the
// rank-r optimum, whose objective is Σ_{i>r} λ_i: `spectrum` and `energies` hold λ.
HeadBasis weighted_head_basis(const at::Tensor& moment, const at::Tensor& weight_gram);

}  // namespace kvsvd
