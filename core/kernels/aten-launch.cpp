#include "core/kernels/aten-launch.h"

#include "core/util/error.h"

#if KVSVD_HAVE_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

namespace kvsvd {

bool on_cuda_kernel_path(const at::Tensor& t) {
#if KVSVD_HAVE_CUDA
  return t.is_cuda();
#else
  (void)t;
  return false;
#endif
}

KernelDType kernel_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return KernelDType::Float32;
    case at::kHalf: return KernelDType::Float16;
    case at::kBFloat16: return KernelDType::BFloat16;
    default: KVSVD_CHECK(false, "kernels: dtype ", t, " not supported (float32, float16, bfloat16)");
  }
  return KernelDType::Float32;
}

KernelStream current_stream(const at::Tensor& t) {
#if KVSVD_HAVE_CUDA
  return at::cuda::getCurrentCUDAStream(t.device().index()).stream();
#else
  (void)t;
  KVSVD_CHECK(false, "kernels: built without CUDA");
  return nullptr;
#endif
}

int64_t multiprocessor_count(at::Device device) {
#if KVSVD_HAVE_CUDA
  if (device.is_cuda()) return at::cuda::getDeviceProperties(device.index())->multiProcessorCount;
#endif
  (void)device;
  return 1;
}

}  // namespace kvsvd
