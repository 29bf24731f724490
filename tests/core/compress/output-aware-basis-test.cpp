// The output-aware value pair (A, B): on small random instances its own objective
// E‖W (v − B Aᵀ v)‖² is no worse than PCA's and than 1,000 random rank-r compressors', and it
// equals the closed form's tail Σ_{i>r} λ_i.
#include <ATen/ATen.h>

#include "core/compress/head-basis.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

// tr(M (I − B Aᵀ) Σ (I − B Aᵀ)ᵀ) = E‖W (v − B Aᵀ v)‖² with M = WᵀW, Σ = E[v vᵀ].
double objective(const at::Tensor& m, const at::Tensor& sigma, const at::Tensor& a,
                 const at::Tensor& b) {
  const int64_t d = m.size(0);
  const at::Tensor e = at::eye(d, at::kDouble) - at::matmul(b, a.t());
  return at::trace(at::matmul(at::matmul(m, e), at::matmul(sigma, e.t()))).item<double>();
}

}  // namespace

TEST_CASE("output-aware values beat PCA and random compressors on their own objective",
          "[compress][output-aware]") {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(19);
  for (int trial = 0; trial < 6; ++trial) {
    const int64_t d = 8, hidden = 12, n = 200;
    // Values with a decaying spectrum; two query heads' o_proj blocks W_i [hidden, d].
    const at::Tensor scale = at::exp(-0.3 * at::arange(d, at::kDouble));
    const at::Tensor v = at::randn({n, d}, gen, at::kDouble) * scale;
    const at::Tensor sigma = at::matmul(v.t(), v) / double(n);
    at::Tensor m = at::zeros({d, d}, at::kDouble);
    for (int i = 0; i < 2; ++i) {
      // Columns of uneven weight, so that what W sees differs from where v's energy is.
      const at::Tensor w = at::randn({hidden, d}, gen, at::kDouble) *
                           at::exp(0.25 * at::arange(d, at::kDouble));
      m += at::matmul(w.t(), w);
    }
    const HeadBasis ow = weighted_head_basis(sigma, m);
    const HeadBasis pca = moment_head_basis(sigma);
    for (int64_t r : {1, 2, 4, 6}) {
      INFO("trial " << trial << " rank " << r);
      const at::Tensor a = ow.basis.narrow(1, 0, r), b = ow.decode.narrow(1, 0, r);
      const double own = objective(m, sigma, a, b);
      double tail = 0;
      for (int64_t i = r; i < d; ++i) tail += ow.energies[i];
      CHECK(own == Approx(tail).epsilon(1e-9).margin(1e-12));
      const at::Tensor p = pca.basis.narrow(1, 0, r);
      CHECK(own <= objective(m, sigma, p, p) * (1 + 1e-12));
      for (int k = 0; k < 500; ++k) {  // 1,000 random compressors per rank: 500 pairs, 500 projectors
        const at::Tensor ra = at::randn({d, r}, gen, at::kDouble);
        const at::Tensor rb = at::randn({d, r}, gen, at::kDouble);
        CHECK(own <= objective(m, sigma, ra, rb) * (1 + 1e-12));
        // A random orthonormal projector as well (the family PCA lives in).
        const at::Tensor qr = std::get<0>(at::linalg_qr(ra));
        CHECK(own <= objective(m, sigma, qr, qr) * (1 + 1e-12));
      }
    }
    // Full rank reconstructs exactly what W can see.
    CHECK(objective(m, sigma, ow.basis, ow.decode) == Approx(0.0).margin(1e-9));
  }
}
