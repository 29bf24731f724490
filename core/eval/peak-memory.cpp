// Peak memory: CUDA caching-allocator statistics where compiled in, getrusage otherwise.
#include "core/eval/peak-memory.h"

#include <sys/resource.h>

#if KVSVD_HAVE_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace kvsvd {

void reset_peak_memory(at::Device device) {
#if KVSVD_HAVE_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#else
  (void)device;
#endif
}

int64_t peak_memory_bytes(at::Device device) {
#if KVSVD_HAVE_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
    // Index 0 is StatType::AGGREGATE in every LibTorch version (the enum moved namespaces).
    return stats.allocated_bytes[0].peak;
  }
#else
  (void)device;
#endif
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<int64_t>(ru.ru_maxrss) * 1024;  // Linux reports kilobytes
}

}  // namespace kvsvd
