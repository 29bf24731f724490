// Bit packing of integer codes along the last dimension: 1, 2 or 4 codes per byte (8, 4, 2 bits).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace kvsvd {

// Bytes that n codes of `bits` bits take: ceil(n * bits / 8).
int64_t packed_size(int64_t n, int64_t bits);

// codes: [..., n] integer tensor with values in [0, 2^bits) -> [..., packed_size(n, bits)] uint8.
// Code j of a byte sits at bits [j*bits, (j+1)*bits); a short last byte is padded with zeros.
at::Tensor pack_codes(const at::Tensor& codes, int64_t bits);
// packed: [..., m] uint8 -> [..., n] uint8 codes (n <= m * 8 / bits); the exact inverse.
at::Tensor unpack_codes(const at::Tensor& packed, int64_t bits, int64_t n);

}  // namespace kvsvd
