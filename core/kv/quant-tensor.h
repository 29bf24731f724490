// Asymmetric round-to-nearest quantization of the last dimension in groups, fp16 scales and zero
// points (the tail rule of core/kv/quant-spec.h when the group does not divide the row).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace kvsvd {

struct QuantGroups {
  at::Tensor codes;  // [..., packed_size(n, bits)] uint8, packed codes
  at::Tensor scale;  // [..., groups] fp16, step between levels (> 0)
  at::Tensor zero;   // [..., groups] fp16, the value of code 0 (<= the group's minimum)
};

// Groups per row of n elements: ceil(n / min(group, n)).
int64_t group_count(int64_t n, int64_t group);

// x: [..., n] float tensor -> codes q = round((x - zero) / scale), clamped to [0, 2^bits - 1].
// zero is the group minimum rounded down to fp16 and scale = (max - zero) / (2^bits - 1) rounded
// up to fp16 (at least the smallest fp16 step), so every element satisfies
// |x - (q * scale + zero)| <= scale / 2 with the stored fp16 values (up to float32 rounding).
// Values must lie within fp16 range. bits: 8, 4 or 2.
QuantGroups quantize_groups(const at::Tensor& x, int64_t bits, int64_t group);

// The inverse: [..., n] in `dtype`, a temporary built from q (n: elements per row).
at::Tensor dequantize_groups(const QuantGroups& q, int64_t bits, int64_t group, int64_t n,
                             at::ScalarType dtype);

}  // namespace kvsvd
