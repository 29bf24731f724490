// A full (uncompressed) cache of fixed capacity whose one-token decode step has static shapes: it
// keeps the cached length in a device tensor, writes the new row at that index and attends over
// the whole capacity under a length mask. One decode step can then be recorded as a CUDA graph
// and replayed, one launch per step instead of ~2,000 eager ATen calls (the host-bound decode
// measured at 8B shape). Blocks of several tokens (prefill) take the ordinary dynamic path.
#pragma once
#include "core/kv/kv-cache.h"

namespace kvsvd {

class StaticFullCache : public KvCache {
 public:
  // Room for exactly `capacity` tokens per layer ([B, Hkv, capacity, d] keys and values).
  StaticFullCache(const LlamaConfig& cfg, int64_t batch, int64_t capacity, at::ScalarType dtype,
                  at::Device device);
  // T > 1: dynamic (host length); T == 1: static shapes, the length read from the device.
  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override;
  // Host length, and the device length by a kernel (recorded into a graph with the step).
  void advance(int64_t tokens) override;
  int64_t length() const override { return len_; }
  std::vector<int64_t> layer_bytes() const override;
  void reset() override;
  std::string name() const override { return "full-static"; }

  int64_t capacity() const { return capacity_; }
  // Recording a graph runs the host side of one step (advance) but none of its kernels; after
  // the recording and after replays the caller sets the host length to what the device holds.
  void set_host_length(int64_t n);

 private:
  LlamaConfig cfg_;
  int64_t capacity_ = 0;
  int64_t len_ = 0;
  std::vector<at::Tensor> k_, v_;  // per layer [B, Hkv, capacity, d], post-RoPE keys
  at::Tensor pos_;                 // [1] int64 on the device: tokens cached
  at::Tensor slots_;               // [capacity] int64 on the device: 0 .. capacity-1
};

}  // namespace kvsvd
