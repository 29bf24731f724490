// cos/sin of every position up to a capacity, built once, so a decode step gathers one row
// instead of recomputing the rotary angles.
#pragma once
#include <ATen/ATen.h>


namespace kvsvd {

class RopeTable {
 public:
  // inv_freq: [d/2] float32 (Rope::inv_freq()). Positions 0 .. rows-1 with the same float32
  // operations as Rope::apply_at, cast to dtype, on inv_freq's device.
  RopeTable(const at::Tensor& inv_freq, int64_t rows, at::ScalarType dtype);
  const at::Tensor& cos() const { return cos_; }  // [rows, d] in dtype, on inv_freq's device
  const at::Tensor& sin() const { return sin_; }  // [rows, d]
  int64_t rows() const { return cos_.size(0); }

 private:
  at::Tensor cos_, sin_;
};

}  // namespace kvsvd
