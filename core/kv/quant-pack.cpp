// Packing by multiply-and-sum (codes never overlap, so the sum is a bitwise or): plain ATen ops
// that run on CPU and CUDA alike.
#include "core/kv/quant-pack.h"

#include "core/util/error.h"

namespace kvsvd {
namespace {

void check_bits(int64_t bits) {
  KVSVD_CHECK(bits == 8 || bits == 4 || bits == 2, "--kv-bits: packing supports 8, 4, 2 bits, got ",
              bits);
}

// [per] int32: the bit offset of each code within its byte.
at::Tensor shifts(int64_t bits, at::Device device) {
  return at::arange(0, 8, bits, at::TensorOptions().dtype(at::kInt).device(device));
}

}  // namespace

int64_t packed_size(int64_t n, int64_t bits) {
  check_bits(bits);
  const int64_t per = 8 / bits;
  return (n + per - 1) / per;
}

at::Tensor pack_codes(const at::Tensor& codes, int64_t bits) {
  KVSVD_CHECK(codes.dim() >= 1, "pack_codes: codes need at least one dimension");
  const int64_t n = codes.size(-1), m = packed_size(n, bits), per = 8 / bits;
  if (per == 1) return codes.to(at::kByte).contiguous();
  at::Tensor c = codes.to(at::kInt);
  if (m * per > n) c = at::constant_pad_nd(c, {0, m * per - n}, 0);  // zeros in the last byte
  std::vector<int64_t> sizes = codes.sizes().vec();
  sizes.back() = m;
  sizes.push_back(per);
  c = c.reshape(sizes);  // [..., m, per]
  return at::bitwise_left_shift(c, shifts(bits, c.device())).sum(-1).to(at::kByte);  // [..., m]
}

at::Tensor unpack_codes(const at::Tensor& packed, int64_t bits, int64_t n) {
  KVSVD_CHECK(packed.dim() >= 1 && packed.scalar_type() == at::kByte,
              "unpack_codes: packed codes must be a uint8 tensor");
  packed_size(1, bits);  // checks the bit width
  const int64_t per = 8 / bits;
  const int64_t m = packed.size(-1);
  KVSVD_CHECK(n >= 0 && n <= m * per, "unpack_codes: ", n, " codes of ", bits,
              " bits do not fit in ", m, " bytes");
  if (per == 1) return packed.narrow(-1, 0, n);
  at::Tensor p = packed.to(at::kInt).unsqueeze(-1);                           // [..., m, 1]
  at::Tensor c = at::bitwise_right_shift(p, shifts(bits, p.device()))         // [..., m, per]
                     .bitwise_and((1 << bits) - 1);
  std::vector<int64_t> sizes = packed.sizes().vec();
  sizes.back() = m * per;
  return c.reshape(sizes).narrow(-1, 0, n).to(at::kByte);  // [..., n]
}

}  // namespace kvsvd
