#include "mpi/rank-device.h"

#include "core/util/device.h"
#include "core/util/error.h"
#include "mpi/gpu-binding.h"
#include "mpi/mpi-env.h"

namespace kvsvd {

std::string rank_device(const std::string& flag) {
  const DeviceSpec spec = parse_device(flag, visible_gpu_count() > 0);
  if (spec.kind == "cpu") return "cpu";
  if (spec.index >= 0) return flag;
  int local_rank = 0, local_size = 1;
  node_local_rank(&local_rank, &local_size);
  const int idx = bind_rank_gpu(local_rank);
  KVSVD_CHECK(idx >= 0, "--device ", flag, ": no CUDA device visible");
  return cat("cuda:", idx);
}

}  // namespace kvsvd
