// Flag values -> at::Device / at::ScalarType.
#include "core/model/aten-device.h"

#include "core/util/device.h"
#include "core/util/error.h"

namespace kvsvd {

at::Device resolve_device(const std::string& flag_value) {
  const DeviceSpec spec = parse_device(flag_value, at::hasCUDA());
  if (spec.kind == "cpu") return at::Device(at::kCPU);
  if (spec.index >= 0) {
    KVSVD_CHECK(spec.index < static_cast<int>(at::getNumGPUs()), "--device '", flag_value,
                "': only ", at::getNumGPUs(), " CUDA device(s) visible");
    return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(spec.index));
  }
  return at::Device(at::kCUDA, 0);
}

at::ScalarType resolve_dtype(const std::string& flag_value) {
  const std::string name = parse_dtype_name(flag_value);
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float16") return at::kHalf;
  return at::kFloat;
}

const char* aten_dtype_name(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kBFloat16: return "bfloat16";
    case at::kHalf: return "float16";
    default: return "other";
  }
}

}  // namespace kvsvd
