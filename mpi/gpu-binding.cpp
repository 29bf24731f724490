#include "mpi/gpu-binding.h"

#if KVSVD_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

#include "core/util/error.h"

namespace kvsvd {

int gpu_index_for(int local_rank, int device_count) {
  KVSVD_CHECK(local_rank >= 0, "gpu_index_for: negative local rank ", local_rank);
  if (device_count <= 0) return -1;
  return local_rank % device_count;
}

int visible_gpu_count() {
#if KVSVD_HAVE_CUDA
  int n = 0;
  // No driver / no device is not an error here: the caller falls back to the CPU.
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error so later CUDA calls are unaffected
    return 0;
  }
  return n;
#else
  return 0;
#endif
}

int bind_rank_gpu(int local_rank) {
  int device = gpu_index_for(local_rank, visible_gpu_count());
#if KVSVD_HAVE_CUDA
  if (device >= 0) {
    cudaError_t rc = cudaSetDevice(device);
    KVSVD_CHECK(rc == cudaSuccess, "cannot bind local rank ", local_rank, " to GPU ", device, ": ",
                cudaGetErrorString(rc));
  }
#endif
  return device;
}

}  // namespace kvsvd
