// Independent spectra from Eigen (JacobiSVD, SelfAdjointEigenSolver): the cross-check for the
// ATen decompositions, used by tests and by `--verify`-style checks. Torch-free.
#pragma once
#include <cstdint>
#include <vector>

namespace kvsvd {

// Singular values, descending, of a row-major rows×cols matrix.
std::vector<double> eigen_singular_values(const std::vector<double>& a, int64_t rows, int64_t cols);
// Eigenvalues, descending, of a row-major symmetric n×n matrix.
std::vector<double> eigen_symmetric_eigenvalues(const std::vector<double>& m, int64_t n);
// max_i |a_i - b_i| / max(1, max_i |b_i|); sizes must agree.
double max_relative_difference(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace kvsvd
