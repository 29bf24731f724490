// The quant cache (KIVI-style: keys per channel in blocks of `group` tokens, values per token,
// the newest tokens exact in 16-bit floats) in a fixed-capacity layout whose decode step is
// graph-capturable: codes/scales for every block and row of the capacity, the exact tokens in a
// ring of residual + 2*group rows, the filled length on the device. Each step stores its token in
// the ring, then re-quantizes the newest complete key block and the value row leaving the window
// from the ring (idempotent: the same exact rows give the same codes, so doing it every step
// equals QuantCache's flush at the step where a block completes, with no host-side schedule),
// and attends over the capacity with masks choosing codes or ring rows. Quantization and
// dequantization are core/kv/quant-tensor's. Prefill blocks run through a QuantCache for their
// outputs (its exact prefill semantics) while the same rows fill the static layout; that cache is
// dropped at the first decode step.
#pragma once
#include <memory>

#include "core/kernels/rope-table.h"
#include "core/kv/quant-cache.h"
#include "core/kv/step-cache.h"

namespace kvsvd {

class StaticQuantCache : public StepCache {
 public:
  StaticQuantCache(const LlamaConfig& cfg, QuantCacheOptions opts, int64_t batch,
                   int64_t capacity, at::ScalarType dtype, at::Device device);

  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override;
  // q [B, Hq, d], k, v [B, Hkv, d] pre-RoPE -> [B, hidden]; no host synchronisation.
  at::Tensor decode_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                         const at::Tensor& v, const at::Tensor& w_o) override;
  void advance(int64_t tokens) override;
  int64_t length() const override { return len_; }
  // Codes, scales and zero points at capacity, plus the rings.
  std::vector<int64_t> layer_bytes() const override;
  void reset() override;
  std::string name() const override { return "quant-static"; }

  at::Tensor& positions() override { return pos_; }
  void set_host_length(int64_t n) override;
  int64_t capacity() const override { return capacity_; }

 private:
  struct Layer {
    at::Tensor key_codes, key_scale, key_zero;  // [B, Hkv, NB+1, *]: block rows (d*G), +1 spare
    at::Tensor val_codes, val_scale, val_zero;  // [B, Hkv, cap+1, *]: token rows (d), +1 spare
    at::Tensor key_ring, val_ring;              // [B, Hkv, W, d] in the tail dtype, slot p % W
  };
  // Encoded rows [B, Hkv, n, width] (codes, scale, zero; bits 16: the rows in 16 bits, no scale).
  void encode(const at::Tensor& rows, at::Tensor* codes, at::Tensor* scale, at::Tensor* zero) const;
  at::Tensor decode(const at::Tensor& codes, const at::Tensor& scale, const at::Tensor& zero,
                    int64_t width) const;
  // Every layer's block/row storage from rows of a prefill block (host length).
  void store_block(Layer& L, const at::Tensor& k_rot16, const at::Tensor& v16, int64_t pos0);

  LlamaConfig cfg_;
  QuantCacheOptions opts_;
  int64_t batch_ = 0, capacity_ = 0, blocks_ = 0, ring_ = 0;
  at::ScalarType dtype_, tail_dtype_;
  at::Device device_;
  int64_t len_ = 0;
  std::unique_ptr<QuantCache> prefill_;  // prefill outputs; dropped at the first decode step
  std::vector<Layer> layers_;
  at::Tensor pos_;       // [B] int32
  at::Tensor kpos_;      // [cap] int64: 0 .. cap-1
  at::Tensor kslot_;     // [cap] int64: p % W
  std::unique_ptr<RopeTable> table_;
};

}  // namespace kvsvd
