#include "core/kernels/skinny-gemm.h"

#include <cstdint>

#include "core/kernels/aten-launch.h"

namespace kvsvd {

at::Tensor decode_linear_reference(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return at::linear(x, w, b);
}

at::Tensor decode_linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
#if KVSVD_HAVE_CUDA
  const int64_t elem = static_cast<int64_t>(at::elementSize(x.scalar_type()));
  const bool kernel = on_cuda_kernel_path(x) && x.dim() == 2 && w.dim() == 2 && !b.defined() &&
                      x.size(0) >= 1 && x.size(0) <= kSkinnyGemmMaxRows &&
                      x.size(1) == w.size(1) && x.scalar_type() == w.scalar_type() &&
                      x.scalar_type() != at::kDouble && x.is_contiguous() && w.is_contiguous() &&
                      (x.size(1) * elem) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(x.data_ptr()) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(w.data_ptr()) % 16 == 0;
  if (kernel) {
    at::Tensor y = at::empty({x.size(0), w.size(0)}, x.options());
    launch_skinny_gemm(kernel_dtype(x.scalar_type()), x.data_ptr(), w.data_ptr(), y.data_ptr(),
                       x.size(0), w.size(0), x.size(1), current_stream(x));
    return y;
  }
#endif
  return decode_linear_reference(x, w, b);
}

}  // namespace kvsvd
