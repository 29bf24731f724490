// A full (uncompressed) cache of fixed capacity whose one-token decode step has static shapes and
// no host synchronisation: the filled length lives on the device ([B] int32), RoPE comes from a
// table built once for the capacity, the new row is appended at the device position, and the
// split-K decode kernel reads only the filled rows. A decode step can then be recorded as a CUDA
// graph and replayed. Blocks of several tokens (prefill) take the ordinary dynamic path.
#pragma once
#include <memory>

#include "core/kernels/decode-attention.h"
#include "core/kernels/rope-table.h"
#include "core/kv/step-cache.h"

namespace kvsvd {

class StaticFullCache : public StepCache {
 public:
  // Room for exactly `capacity` tokens per layer ([B, Hkv, capacity, d] keys and values).
  StaticFullCache(const LlamaConfig& cfg, int64_t batch, int64_t capacity, at::ScalarType dtype,
                  at::Device device);
  // T > 1: dynamic (host length); T == 1: attend_step, then W_O.
  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override;
  // One decode token: q [B, Hq, d], k, v [B, Hkv, d] pre-RoPE (rows of any batch stride, head
  // stride d); appends at the device positions and returns the attention output [B, Hq*d]
  // before W_O. Layer 0 also sets the attended lengths to positions + 1.
  at::Tensor attend_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                         const at::Tensor& v);
  // attend_step, then W_O (through the skinny-GEMM kernel at small batch): [B, hidden].
  at::Tensor decode_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                         const at::Tensor& v, const at::Tensor& w_o) override;
  // Host length, and the device positions by a kernel (recorded into a graph with the step).
  void advance(int64_t tokens) override;
  int64_t length() const override { return len_; }
  std::vector<int64_t> layer_bytes() const override;
  void reset() override;
  std::string name() const override { return "full-static"; }

  int64_t capacity() const override { return capacity_; }
  int64_t batch() const { return batch_; }
  // [B] int32 on the device: tokens cached per sequence (the next token's position).
  at::Tensor& positions() override { return pos_; }
  // Recording a graph runs the host side of one step (advance) but none of its kernels; after
  // the recording and after replays the caller sets the host length to what the device holds.
  void set_host_length(int64_t n) override;

 private:
  LlamaConfig cfg_;
  int64_t batch_ = 0, capacity_ = 0;
  int64_t len_ = 0;
  std::vector<at::Tensor> k_, v_;  // per layer [B, Hkv, capacity, d], post-RoPE keys
  at::Tensor pos_;                 // [B] int32 on the device: tokens cached
  at::Tensor lens_;                // [B] int32 on the device: rows attended in this step
  std::unique_ptr<RopeTable> table_;  // cos/sin [capacity, d]
  DecodeAttentionWorkspace ws_;
};

}  // namespace kvsvd
