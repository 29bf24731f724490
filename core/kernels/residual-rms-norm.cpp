#include "core/kernels/residual-rms-norm.h"

#include "core/kernels/aten-launch.h"
#include "core/util/error.h"

namespace kvsvd {

at::Tensor residual_rms_norm_reference(at::Tensor& h, const at::Tensor& delta,
                                       const at::Tensor& weight, double eps) {
  if (delta.defined()) h.add_(delta);
  at::Tensor xf = h.to(at::kFloat);
  at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * at::rsqrt(variance + eps);
  return weight * xf.to(h.scalar_type());
}

at::Tensor residual_rms_norm(at::Tensor& h, const at::Tensor& delta, const at::Tensor& weight,
                             double eps) {
  const int64_t hidden = h.size(-1);
  KVSVD_CHECK(weight.dim() == 1 && weight.size(0) == hidden, "residual_rms_norm: weight ",
              weight.sizes(), " does not match hidden ", hidden);
  KVSVD_CHECK(!delta.defined() || delta.sizes() == h.sizes(), "residual_rms_norm: delta ",
              delta.sizes(), " vs h ", h.sizes());
  const bool kernel = on_cuda_kernel_path(h) && h.is_contiguous() &&
                      (!delta.defined() || (delta.is_contiguous() &&
                                            delta.scalar_type() == h.scalar_type())) &&
                      weight.is_contiguous() && weight.scalar_type() == h.scalar_type();
  if (!kernel) return residual_rms_norm_reference(h, delta, weight, eps);
#if KVSVD_HAVE_CUDA
  at::Tensor out = at::empty_like(h);
  launch_residual_rms_norm(kernel_dtype(h.scalar_type()), h.data_ptr(),
                           delta.defined() ? delta.data_ptr() : nullptr, weight.data_ptr(),
                           out.data_ptr(), h.numel() / hidden, hidden, static_cast<float>(eps),
                           current_stream(h));
  return out;
#else
  return residual_rms_norm_reference(h, delta, weight, eps);
#endif
}

}  // namespace kvsvd
