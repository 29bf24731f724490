#include "core/util/device.h"

#include <algorithm>
#include <cctype>

#include "core/util/error.h"

namespace kvsvd {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

}  // namespace

DeviceSpec parse_device(const std::string& s, bool cuda_available) {
  const std::string v = lower(s);
  DeviceSpec spec;
  if (v == "cpu") return spec;
  if (v == "auto") {
    if (cuda_available) spec.kind = "cuda";
    return spec;
  }
  if (v == "cuda" || v.rfind("cuda:", 0) == 0) {
    KVSVD_CHECK(cuda_available, "--device '", s,
                "': CUDA is not available in this build or on this machine (use cpu or auto)");
    spec.kind = "cuda";
    if (v.size() > 4) {
      const std::string idx = v.substr(5);
      KVSVD_CHECK(!idx.empty() && idx.size() <= 4 &&
                      std::all_of(idx.begin(), idx.end(),
                                  [](unsigned char c) { return std::isdigit(c) != 0; }),
                  "--device '", s, "': the index after 'cuda:' must be a non-negative integer");
      spec.index = std::stoi(idx);
    }
    return spec;
  }
  fail(cat("--device '", s, "': expected cpu, cuda, cuda:N or auto"));
}

std::string parse_dtype_name(const std::string& s) {
  const std::string v = lower(s);
  if (v == "float32" || v == "fp32" || v == "f32" || v == "float") return "float32";
  if (v == "bfloat16" || v == "bf16") return "bfloat16";
  if (v == "float16" || v == "fp16" || v == "f16" || v == "half") return "float16";
  fail(cat("--dtype '", s, "': expected float32 (fp32), bfloat16 (bf16) or float16 (fp16)"));
}

}  // namespace kvsvd
