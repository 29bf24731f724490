#include "core/compress/eigen-check.h"

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <functional>

#include "core/util/error.h"

namespace kvsvd {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

std::vector<double> eigen_singular_values(const std::vector<double>& a, int64_t rows, int64_t cols) {
  KVSVD_CHECK(rows >= 1 && cols >= 1 && static_cast<int64_t>(a.size()) == rows * cols,
              "eigen_singular_values: ", a.size(), " values for a ", rows, "x", cols, " matrix");
  const Eigen::Map<const RowMatrix> m(a.data(), rows, cols);
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(m);  // values only; Jacobi is slow but independent
  const Eigen::VectorXd s = svd.singularValues();
  return std::vector<double>(s.data(), s.data() + s.size());  // Eigen sorts descending
}

std::vector<double> eigen_symmetric_eigenvalues(const std::vector<double>& m, int64_t n) {
  KVSVD_CHECK(n >= 1 && static_cast<int64_t>(m.size()) == n * n, "eigen_symmetric_eigenvalues: ",
              m.size(), " values for a ", n, "x", n, " matrix");
  const Eigen::Map<const RowMatrix> a(m.data(), n, n);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(a, Eigen::EigenvaluesOnly);
  KVSVD_CHECK(es.info() == Eigen::Success, "eigen_symmetric_eigenvalues: solver did not converge");
  const Eigen::VectorXd ev = es.eigenvalues();  // ascending
  std::vector<double> out(ev.data(), ev.data() + ev.size());
  std::sort(out.begin(), out.end(), std::greater<double>());
  return out;
}

double max_relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  KVSVD_CHECK(a.size() == b.size(), "max_relative_difference: sizes ", a.size(), " and ", b.size());
  double scale = 1, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::fabs(b[i]));
    diff = std::max(diff, std::fabs(a[i] - b[i]));
  }
  return diff / scale;
}

}  // namespace kvsvd
