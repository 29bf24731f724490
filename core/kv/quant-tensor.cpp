// The round-to-nearest quantizer: fp16 zero points rounded down and scales rounded up, so that the
// stored fp16 parameters (not only the float32 ones) keep the error within half a step.
#include "core/kv/quant-tensor.h"

#include <algorithm>
#include <vector>

#include "core/kv/quant-pack.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

constexpr double kHalfTiny = 6.0e-8;       // just above the smallest fp16 subnormal (5.96e-8)
constexpr double kHalfRel = 1.0 / 1024.0;  // >= one fp16 ulp relative to the value

// x rounded to fp16, never above x.
at::Tensor half_down(const at::Tensor& x) {
  const at::Tensor h = x.to(at::kHalf);
  const at::Tensor lower = (x - x.abs() * kHalfRel - kHalfTiny).to(at::kHalf);
  return at::where(h.to(at::kFloat) > x, lower, h);
}

// x (>= 0) rounded to fp16, never below x and never 0.
at::Tensor half_up(const at::Tensor& x0) {
  const at::Tensor x = x0.clamp_min(kHalfTiny);  // in float: CPU half has no clamp kernel
  const at::Tensor h = x.to(at::kHalf);
  const at::Tensor upper = (x + x.abs() * kHalfRel + kHalfTiny).to(at::kHalf);
  return at::where(h.to(at::kFloat) < x, upper, h);
}

// [..., n] -> [..., groups * g], the tail group padded: with copies of the row's last element
// when quantizing (the group minimum and maximum stay those of its real elements), with zeros
// when dequantizing.
at::Tensor pad_row(const at::Tensor& x, int64_t padded, bool edge) {
  const int64_t n = x.size(-1);
  if (padded == n) return x;
  if (!edge) return at::constant_pad_nd(x, {0, padded - n}, 0);
  std::vector<int64_t> sizes = x.sizes().vec();
  sizes.back() = padded - n;
  return at::cat({x, x.narrow(-1, n - 1, 1).expand(sizes)}, -1);
}

std::vector<int64_t> grouped(const at::Tensor& x, int64_t groups, int64_t g) {
  std::vector<int64_t> s = x.sizes().vec();
  s.back() = groups;
  s.push_back(g);
  return s;
}

}  // namespace

int64_t group_count(int64_t n, int64_t group) {
  KVSVD_CHECK(group >= 1, "--quant-group must be >= 1, got ", group);
  const int64_t g = std::max<int64_t>(1, std::min(group, n));
  return (n + g - 1) / g;
}

QuantGroups quantize_groups(const at::Tensor& x, int64_t bits, int64_t group) {
  KVSVD_CHECK(x.dim() >= 1 && x.size(-1) >= 1, "quantize: expected [..., n] with n >= 1, got ",
              x.sizes());
  KVSVD_CHECK(bits == 8 || bits == 4 || bits == 2, "--kv-bits: quantization supports 8, 4, 2 bits, got ",
              bits);
  const int64_t n = x.size(-1), groups = group_count(n, group), g = std::min(group, n);
  const double levels = static_cast<double>((1 << bits) - 1);
  const at::Tensor xf = pad_row(x.to(at::kFloat), groups * g, true);
  const at::Tensor xg = xf.reshape(grouped(xf, groups, g));  // [..., groups, g]
  QuantGroups q;
  q.zero = half_down(std::get<0>(xg.min(-1)));                         // [..., groups]
  const at::Tensor zf = q.zero.to(at::kFloat).unsqueeze(-1);           // [..., groups, 1]
  q.scale = half_up((std::get<0>(xg.max(-1)) - q.zero.to(at::kFloat)) / levels);
  const at::Tensor sf = q.scale.to(at::kFloat).unsqueeze(-1);
  at::Tensor codes = ((xg - zf) / sf).round().clamp(0, levels);       // [..., groups, g]
  codes = codes.reshape(xf.sizes()).narrow(-1, 0, n);                 // [..., n]
  q.codes = pack_codes(codes, bits);
  return q;
}

at::Tensor dequantize_groups(const QuantGroups& q, int64_t bits, int64_t group, int64_t n,
                             at::ScalarType dtype) {
  const int64_t groups = group_count(n, group), g = std::min(group, n);
  KVSVD_CHECK(q.scale.size(-1) == groups && q.zero.sizes() == q.scale.sizes(),
              "dequantize: expected ", groups, " scales and zero points per row, got ",
              q.scale.sizes(), " and ", q.zero.sizes());
  const at::Tensor codes = pad_row(unpack_codes(q.codes, bits, n).to(at::kFloat), groups * g, false);
  const at::Tensor x = codes.reshape(grouped(codes, groups, g)) *
                           q.scale.to(at::kFloat).unsqueeze(-1) +
                       q.zero.to(at::kFloat).unsqueeze(-1);  // [..., groups, g]
  return x.reshape(codes.sizes()).narrow(-1, 0, n).to(dtype);
}

}  // namespace kvsvd
