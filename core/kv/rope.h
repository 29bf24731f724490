// Rotary position embedding (HF "rotate_half" layout), with llama3 frequency scaling.
#pragma once
#include <ATen/ATen.h>

#include "core/checkpoint/llama-config.h"

namespace kvsvd {

class Rope {
 public:
  Rope(const LlamaConfig& cfg, at::Device device);
  // x: [B, H, T, d] at absolute positions pos0 .. pos0+T-1 -> rotated, same shape and dtype.
  at::Tensor apply(const at::Tensor& x, int64_t pos0) const;
  // x: [B, H, T, d] at explicit positions: positions [T] int64.
  at::Tensor apply_at(const at::Tensor& x, const at::Tensor& positions) const;
  const at::Tensor& inv_freq() const { return inv_freq_; }  // [d/2] float32

 private:
  at::Tensor inv_freq_;  // [d/2] float32
  int64_t head_dim_ = 0;
};

}  // namespace kvsvd
