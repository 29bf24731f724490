// The fixed-capacity cache a DecodeEngine drives: besides KvCache's prefill path, one decode token
// per sequence with static shapes, its positions on the device, so that a step can be captured as
// a CUDA graph. StaticFullCache is one; a compressed cache plugs into the engine by implementing
// this (its attention and output projection fused as it likes).
#pragma once
#include "core/kv/kv-cache.h"

namespace kvsvd {

class StepCache : public KvCache {
 public:
  // One decode token: q [B, Hq, d], k, v [B, Hkv, d] pre-RoPE (rows of any batch stride, head
  // stride d), w_o [hidden, Hq*d]. Appends at positions() and returns the attention block's
  // output after the output projection, [B, hidden]. No host synchronisation; positions() is
  // advanced by the caller once every layer has run.
  virtual at::Tensor decode_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                 const at::Tensor& v, const at::Tensor& w_o) = 0;
  // [B] int32 on the device: tokens cached per sequence (the next token's position).
  virtual at::Tensor& positions() = 0;
  // Graph replays advance the device positions only; the caller resets the host length after.
  virtual void set_host_length(int64_t n) = 0;
  virtual int64_t capacity() const = 0;
  // False for a cache whose step has host-side work (EagerStepCache): the engine runs it eagerly.
  virtual bool graph_capturable() const { return true; }
};

}  // namespace kvsvd
