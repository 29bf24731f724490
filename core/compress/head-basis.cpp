#include "core/compress/head-basis.h"

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

HeadBasis weight_head_basis(const at::Tensor& w) {
  KVSVD_CHECK(w.dim() == 2 && w.size(0) >= 1 && w.size(1) >= 1,
              "weight_head_basis: expected a [head_dim, hidden] block, got ", w.sizes());
  const at::Tensor a = cpu_double(w);
  check_finite(a, "weight block");
  const int64_t d = a.size(0), hidden = a.size(1);
  // Thin SVD gives d left vectors when hidden >= d; otherwise ask for the full U.
  auto usv = at::linalg_svd(a, /*full_matrices=*/hidden < d);
  at::Tensor u = std::get<0>(usv).narrow(1, 0, d).contiguous();
  at::Tensor s = std::get<1>(usv);
  if (s.size(0) < d) s = at::cat({s, at::zeros({d - s.size(0)}, s.options())});
  normalise_signs(u);
  HeadBasis hb;
  hb.basis = u;
  hb.spectrum = s.contiguous();
  hb.energies = to_vector(s * s);
  return hb;
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

}  // namespace kvsvd
