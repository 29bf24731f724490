// Next-token choice on the device, graph-capturable: greedy argmax, or seeded temperature / top-p
// sampling whose uniform draw is a counter-based hash of (seed, step, sequence) kept on the device.
#pragma once
#include <ATen/ATen.h>

#include "core/model/sampling.h"  // SamplingConfig

namespace kvsvd {

class DeviceSampler {
 public:
  // Checks the config as TokenSampler does (the error names the flag).
  DeviceSampler(const SamplingConfig& cfg, at::Device device);
  // logits: [B, V] float32 -> ids [B] int64; advances the device step counter (no host sync).
  at::Tensor next(const at::Tensor& logits);
  // New seed and step 0 (device writes, outside any graph).
  void reseed(uint64_t seed);
  const SamplingConfig& config() const { return cfg_; }

 private:
  SamplingConfig cfg_;
  at::Tensor seed_;  // [1] int64 on the device
  at::Tensor step_;  // [1] int64 on the device: draws so far
};

}  // namespace kvsvd
