// Memory a device has free now: the CUDA driver's free bytes on a GPU, MemAvailable on the host.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace kvsvd {

// Bytes free on `device` (CUDA: cudaMemGetInfo; CPU: /proc/meminfo MemAvailable, else the
// free physical pages). -1 when it cannot be read.
int64_t free_memory_bytes(at::Device device);

}  // namespace kvsvd
