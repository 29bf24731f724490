// What a quantized KV store is asked for (--kv-bits, --quant-group, --residual, --hadamard) and
// the checks of those flags. Torch-free: the option parser and the sweep planner use it too.
#pragma once
#include <cstdint>
#include <string>

namespace kvsvd {

// kv_bits: 0 = stored in the cache dtype as before (no quantization); 16 = stored in 16-bit floats
// (fp16, or bf16 when the cache dtype is bf16); 8 / 4 / 2 = asymmetric round-to-nearest integer
// codes, packed 1 / 2 / 4 per byte along the last dimension, with one fp16 scale and one fp16
// zero point (the group minimum) per group of `group` consecutive elements of a row.
// Tail rule: when `group` does not divide a row's length n, the last group of the row is the
// shorter remainder (n % group elements); when group >= n the row is one group.
struct QuantSpec {
  int64_t bits = 0;
  int64_t group = 32;
  bool quantized() const { return bits == 8 || bits == 4 || bits == 2; }
};

// Checks a bit width (0 allowed only where `allow_none`); the error names `flag`.
void check_kv_bits(int64_t bits, bool allow_none, const std::string& flag = "--kv-bits");
// group >= 1; the error names `flag`.
void check_quant_group(int64_t group, const std::string& flag = "--quant-group");
// residual >= 0; the error names `flag`.
void check_residual(int64_t residual, const std::string& flag = "--residual");
// Both checks of a spec.
void check_quant_spec(const QuantSpec& s, bool allow_none);

// The label part of a spec: "" for bits 0, "16b", "4b/g32".
std::string quant_spec_label(const QuantSpec& s);

}  // namespace kvsvd
