// Element types of core/kernels: float conversion of float / half / bfloat16 and the dispatch on
// KernelDType.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/kernels/kernel-launch.h"

namespace kvsvd {

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) { return __bfloat162float(x); }

template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) { return __float2half_rn(x); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
// x rounded to T and back: the rounding point of one ATen op in dtype T.
template <typename T> __device__ __forceinline__ float round_to(float x) { return to_f(from_f<T>(x)); }

// Calls f(T{}) with T the element type of dt.
template <typename F> void dispatch_dtype(KernelDType dt, F&& f) {
  switch (dt) {
    case KernelDType::Float32: f(float{}); break;
    case KernelDType::Float16: f(__half{}); break;
    case KernelDType::BFloat16: f(__nv_bfloat16{}); break;
  }
}

}  // namespace kvsvd
