#include "core/compress/head-basis.h"

#include <ATen/Parallel.h>

#include <cmath>

#include "core/util/error.h"

namespace kvsvd {
namespace {

at::Tensor cpu_double(const at::Tensor& t) {
  return t.to(at::Device(at::kCPU), at::kDouble).contiguous();
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = cpu_double(t);
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

void check_finite(const at::Tensor& t, const char* what) {
  KVSVD_CHECK(at::isfinite(t).all().item<bool>(), what, " holds NaN or Inf values");
}

}  // namespace

void normalise_signs(at::Tensor& u) {
  KVSVD_ASSERT(u.dim() == 2 && u.scalar_type() == at::kDouble && u.device().is_cpu() &&
                   u.is_contiguous(),
               "normalise_signs wants a contiguous [d, r] float64 CPU tensor");
  const int64_t rows = u.size(0), cols = u.size(1);
  double* p = u.data_ptr<double>();
  for (int64_t c = 0; c < cols; ++c) {
    int64_t best = 0;
    double best_abs = -1;
    for (int64_t r = 0; r < rows; ++r) {
      const double a = std::fabs(p[r * cols + c]);
      if (a > best_abs) {  // strict: the first maximum wins ties
        best_abs = a;
        best = r;
      }
    }
    if (p[best * cols + c] < 0) {
      for (int64_t r = 0; r < rows; ++r) p[r * cols + c] = -p[r * cols + c];
    }
  }
}

std::vector<HeadBasis> weight_head_bases(const at::Tensor& w) {
  KVSVD_CHECK(w.dim() == 3 && w.size(0) >= 1 && w.size(1) >= 1 && w.size(2) >= 1,
              "weight_head_bases: expected [heads, head_dim, hidden] blocks, got ", w.sizes());
  const at::Tensor a = w.to(at::kDouble);  // on w's device
  check_finite(a, "weight block");
  // Gram matrices [n, d, d]; symmetrised exactly since eigh reads one triangle.
  at::Tensor g = cpu_double(at::matmul(a, a.transpose(1, 2)));
  g = (0.5 * (g + g.transpose(1, 2))).contiguous();
  const int64_t n = g.size(0), hidden = w.size(2);
  std::vector<HeadBasis> out(static_cast<size_t>(n));
  // One LAPACK eigensolve per head, heads in parallel (each result depends on its head only).
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t h = begin; h < end; ++h) {
      auto ev = at::linalg_eigh(g[h], "L");
      at::Tensor lam = std::get<0>(ev).flip({0}).clamp_min(0.0).contiguous();  // descending
      // W Wᵀ has rank <= hidden: eigenvalues past it are round-off, and exactly 0 (as an SVD's
      // missing singular values are).
      if (hidden < lam.size(0)) lam.narrow(0, hidden, lam.size(0) - hidden).zero_();
      at::Tensor u = std::get<1>(ev).flip({1}).contiguous();
      normalise_signs(u);
      HeadBasis& hb = out[static_cast<size_t>(h)];
      hb.basis = u;
      hb.spectrum = lam.sqrt().contiguous();
      hb.energies = to_vector(lam);
    }
  });
  return out;
}

HeadBasis moment_head_basis(const at::Tensor& moment) {
  KVSVD_CHECK(moment.dim() == 2 && moment.size(0) == moment.size(1) && moment.size(0) >= 1,
              "moment_head_basis: expected a square [head_dim, head_dim] matrix, got ",
              moment.sizes());
  at::Tensor m = cpu_double(moment);
  check_finite(m, "second-moment matrix");
  m = (0.5 * (m + m.t())).contiguous();  // exact symmetry: eigh reads one triangle only
  auto ev = at::linalg_eigh(m, "L");
  // eigh sorts ascending: reverse to descending energy.
  at::Tensor lam = std::get<0>(ev).flip({0}).contiguous();
  at::Tensor u = std::get<1>(ev).flip({1}).contiguous();
  normalise_signs(u);
  HeadBasis hb;
  hb.basis = u;
  hb.spectrum = lam;
  hb.energies = to_vector(lam.clamp_min(0.0));  // round-off can make tiny eigenvalues negative
  return hb;
}

HeadBasis weighted_head_basis(const at::Tensor& moment, const at::Tensor& weight_gram) {
  const int64_t d = moment.size(0);
  KVSVD_CHECK(moment.dim() == 2 && moment.size(1) == d && weight_gram.sizes() == moment.sizes(),
              "weighted_head_basis: expected two [d, d] matrices, got ", moment.sizes(), " and ",
              weight_gram.sizes());
  at::Tensor sigma = cpu_double(moment), m = cpu_double(weight_gram);
  check_finite(sigma, "second-moment matrix");
  check_finite(m, "output weight Gram matrix");
  sigma = 0.5 * (sigma + sigma.t());
  m = (0.5 * (m + m.t())).contiguous();
  // L = M^{1/2} and its pseudo-inverse, from one eigensolve of M.
  auto em = at::linalg_eigh(m, "L");
  const at::Tensor lam = std::get<0>(em).clamp_min(0.0);
  const at::Tensor q = std::get<1>(em);
  const double cut = lam.max().item<double>() * 1e-12;
  const at::Tensor root = lam.sqrt();
  const at::Tensor inv_root = at::where(lam > cut, 1.0 / root.clamp_min(1e-300), at::zeros_like(root));
  const at::Tensor l = at::matmul(q * root.unsqueeze(0), q.t());
  const at::Tensor l_pinv = at::matmul(q * inv_root.unsqueeze(0), q.t());
  at::Tensor c = at::matmul(at::matmul(l, sigma), l);
  c = (0.5 * (c + c.t())).contiguous();
  auto ec = at::linalg_eigh(c, "L");
  const at::Tensor lam_c = std::get<0>(ec).flip({0}).contiguous();
  at::Tensor u = std::get<1>(ec).flip({1}).contiguous();
  normalise_signs(u);
  HeadBasis hb;
  hb.basis = at::matmul(l, u).contiguous();       // A
  hb.decode = at::matmul(l_pinv, u).contiguous(); // B
  hb.spectrum = lam_c;
  hb.energies = to_vector(lam_c.clamp_min(0.0));
  return hb;
}

}  // namespace kvsvd
