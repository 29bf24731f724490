// Error check after every CUDA launch of core/kernels: throws with the kernel's name and CUDA's text.
#pragma once
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace kvsvd {

inline void check_cuda_launch(const char* kernel) {
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess)
    throw std::runtime_error(std::string("CUDA kernel ") + kernel + ": " + cudaGetErrorString(e));
}

}  // namespace kvsvd
