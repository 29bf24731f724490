// Turns checkpoint tensors into ATen tensors of the compute dtype on a device.
#pragma once
#include <ATen/ATen.h>

#include "core/checkpoint/checkpoint.h"

namespace kvsvd {

// Reads `name`, checks its shape equals `expect` (empty: no check; the error names tensor, file,
// both shapes) and converts F32/F16/BF16 to `dtype` on `device`.
at::Tensor load_tensor(const Checkpoint& ckpt, const std::string& name, at::ScalarType dtype,
                       at::Device device, const std::vector<int64_t>& expect = {});

}  // namespace kvsvd
