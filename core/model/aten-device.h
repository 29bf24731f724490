// Turns --device / --dtype flag values into ATen devices and scalar types (the parsing itself
// lives torch-free in core/util/device.h).
#pragma once
#include <ATen/ATen.h>

#include <string>

namespace kvsvd {

// "cpu" | "cuda" | "cuda:N" | "auto"; the error names the flag value.
at::Device resolve_device(const std::string& flag_value);
// "float32" | "bfloat16" | "float16" (and their short forms).
at::ScalarType resolve_dtype(const std::string& flag_value);
const char* aten_dtype_name(at::ScalarType t);  // "float32", "bfloat16", "float16"

}  // namespace kvsvd
