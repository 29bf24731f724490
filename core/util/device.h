// Parsing of --device and --dtype flags (torch-free: names only; ATen conversion in model code).
#pragma once
#include <string>

namespace kvsvd {

struct DeviceSpec {
  std::string kind = "cpu";  // "cpu" or "cuda"
  int index = -1;            // -1: default / chosen per rank
};

// "cpu" | "cuda" | "cuda:N" | "auto" (auto: cuda when available, else cpu; `cuda_available`
// is passed in so that this stays torch-free).
DeviceSpec parse_device(const std::string& s, bool cuda_available);
// "float32" | "bfloat16" | "float16" (also fp32/bf16/fp16); returns the canonical name.
std::string parse_dtype_name(const std::string& s);

}  // namespace kvsvd
