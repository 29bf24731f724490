// Free memory for the pipeline-stage fit check, read before any weight is loaded.
#include "core/eval/free-memory.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#if KVSVD_HAVE_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

namespace kvsvd {

int64_t free_memory_bytes(at::Device device) {
#if KVSVD_HAVE_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDAGuard guard(device);
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return -1;
    return static_cast<int64_t>(free_b);
  }
#endif
  if (device.is_cuda()) return -1;  // a CUDA device in a build without CUDA cannot be asked
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("MemAvailable:", 0) != 0) continue;
    std::istringstream ss(line.substr(13));
    int64_t kb = -1;
    ss >> kb;
    if (kb >= 0) return kb * 1024;
  }
  const long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : -1;
}

}  // namespace kvsvd
