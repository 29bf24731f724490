// Growable per-token storage of rows [B, H, S, n] at a QuantSpec: plain (cache dtype), 16-bit, or
// packed integer codes with fp16 scales / zero points per group of a row. Reads dequantize into
// temporaries; only the packed form is kept.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

#include "core/kv/quant-spec.h"

namespace kvsvd {

class QuantRows {
 public:
  QuantRows() = default;
  // dtype: the cache dtype (plain storage for bits 0, and what reads return). Bits 16 store fp16,
  // or bf16 when dtype is bf16.
  QuantRows(QuantSpec spec, at::ScalarType dtype);

  // rows: [B, H, T, n]; the first append fixes B, H, n. Storage grows along dim 2 (the first
  // allocation exact, later ones doubling).
  void append(const at::Tensor& rows);
  // [B, H, count, n] in the cache dtype: rows begin .. begin+count-1, dequantized.
  at::Tensor read(int64_t begin, int64_t count) const;
  at::Tensor read() const { return read(0, size_); }

  int64_t size() const { return size_; }  // rows stored
  int64_t width() const { return n_; }    // n (-1 before the first append)
  const QuantSpec& spec() const { return spec_; }
  // Bytes of every storage tensor (codes, scales, zero points), reserved capacity included.
  int64_t bytes() const;
  void clear() { size_ = 0; }
  void shrink_to_fit();

 private:
  QuantSpec spec_;
  at::ScalarType dtype_ = at::kFloat;
  int64_t n_ = -1, size_ = 0;
  at::Tensor data_;          // bits 0/16: [B, H, cap, n] values; else [B, H, cap, packed] uint8
  at::Tensor scale_, zero_;  // packed only: [B, H, cap, groups] fp16
};

}  // namespace kvsvd
