// ATen side of the CUDA kernels: whether a tensor can go to one, its KernelDType, the current stream.
#pragma once
#include <ATen/ATen.h>

#include "core/kernels/kernel-launch.h"

namespace kvsvd {

// True when kvsvd was built with CUDA and t lives on a CUDA device.
bool on_cuda_kernel_path(const at::Tensor& t);
KernelDType kernel_dtype(at::ScalarType t);  // float32 / float16 / bfloat16, else an error
// The current CUDA stream of t's device (call only when on_cuda_kernel_path(t)).
KernelStream current_stream(const at::Tensor& t);
// Multiprocessors of a CUDA device; 1 on the CPU.
int64_t multiprocessor_count(at::Device device);

}  // namespace kvsvd
