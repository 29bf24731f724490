// Sylvester construction: H_{2m} = [[H_m, H_m], [H_m, -H_m]], scaled by 1/sqrt(m) per block.
#include "core/kv/quant-rotation.h"

#include <cmath>

#include "core/util/error.h"

namespace kvsvd {
namespace {

at::Tensor sylvester(int64_t m) {  // [m, m] entries ±1, m a power of two
  at::Tensor h = at::ones({1, 1}, at::kDouble);
  while (h.size(0) < m) h = at::cat({at::cat({h, h}, 1), at::cat({h, -h}, 1)}, 0);
  return h;
}

}  // namespace

at::Tensor hadamard_rotation(int64_t n, at::ScalarType dtype, at::Device device) {
  KVSVD_CHECK(n >= 1, "--hadamard: rotation size must be >= 1, got ", n);
  at::Tensor r = at::zeros({n, n}, at::kDouble);
  int64_t at_row = 0;
  for (int64_t bit = int64_t(1) << 62; bit >= 1; bit >>= 1) {
    if ((n & bit) == 0) continue;
    r.narrow(0, at_row, bit).narrow(1, at_row, bit).copy_(sylvester(bit) / std::sqrt(double(bit)));
    at_row += bit;
  }
  return r.to(device, dtype);
}

}  // namespace kvsvd
