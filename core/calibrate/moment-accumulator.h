// Per-layer, per-KV-head second moments Σ k kᵀ and Σ v vᵀ gathered by observing the model on
// calibration windows (the input of activation_pca).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "core/compress/profile-method.h"
#include "core/model/llama.h"

namespace kvsvd {

// Sums over tokens. One window's moments, or the ordered sum of many: the stage adds windows in
// window order, so the totals are bitwise the same for any number of ranks.
struct KvMoments {
  at::Tensor key;      // [L, Hkv, d, d] float64 CPU  Σ k kᵀ (pre- or post-RoPE keys)
  at::Tensor value;    // [L, Hkv, d, d] float64 CPU  Σ v vᵀ
  int64_t tokens = 0;  // tokens behind every head's sums (the same for every layer)

  static KvMoments zeros(int64_t num_layers, int64_t n_kv, int64_t head_dim);
  // this += other (the caller fixes the order; floating-point addition is not associative).
  void add(const KvMoments& other);
};

// The observer body. Sums on the model's device in float64, moved to the CPU by take().
class MomentAccumulator {
 public:
  MomentAccumulator(const LlamaConfig& cfg, KeySpace key_space, at::Device device);

  // Absolute position of the first token of the next forward pass (post-RoPE keys need it).
  void set_position(int64_t pos0) { pos0_ = pos0; }
  // k, v: [B, Hkv, T, d] pre-RoPE keys and values of `layer` (LlamaModel's KvObserver).
  void observe(int64_t layer, const at::Tensor& k, const at::Tensor& v, const Rope& rope);
  // Token count is taken from layer 0's observations; all layers must have seen the same tokens.
  KvMoments take();

 private:
  LlamaConfig cfg_;
  KeySpace key_space_;
  at::Device device_;
  int64_t pos0_ = 0;
  std::vector<at::Tensor> key_, value_;  // per layer [Hkv, d, d] float64 on device_
  std::vector<int64_t> tokens_;          // per layer
};

// Calibration sums windows in fixed chunks of this many consecutive windows: each chunk's sum is
// accumulated on the model's device in window order, and chunk sums are added in chunk order.
// The chunking does not depend on the number of ranks (a rank computes whole chunks), so the
// totals are bitwise the same for any rank count, while only one [L,Hkv,d,d] pair per chunk (not
// per window) travels to the CPU and through MPI.
inline constexpr int64_t kWindowsPerChunk = 8;
int64_t calibration_chunks(int64_t windows);  // ceil(windows / kWindowsPerChunk)

// The moments of chunk `chunk` (windows [chunk*kWindowsPerChunk, ...) of `windows`), summed on
// the model's device, returned on the CPU. Consecutive windows of equal length go through the
// model as one batch.
KvMoments chunk_moments(LlamaModel& model, const std::vector<std::vector<int32_t>>& windows,
                        int64_t chunk, KeySpace key_space);

}  // namespace kvsvd
