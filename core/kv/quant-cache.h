// The quantization baseline (method `quant`, in the style of KIVI): post-RoPE keys quantized per
// channel in blocks of `group` tokens, values per token in groups of `group` channels, the most
// recent `residual` tokens (and the still-open key block) kept unquantized in 16-bit floats (the
// cache dtype when it is fp16/bf16, else fp16), so the memory compares with an fp16 full cache.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "core/kv/kv-cache.h"
#include "core/kv/quant-rows.h"

namespace kvsvd {

struct QuantCacheOptions {
  int64_t bits = 4;       // --kv-bits: 16 | 8 | 4 | 2
  int64_t group = 32;     // --quant-group: tokens per key block, channels per value group
  int64_t residual = 32;  // --residual: newest tokens kept unquantized (>= 0)
};
// Checks the options (errors name --kv-bits, --quant-group, --residual).
void check_quant_cache_options(const QuantCacheOptions& o);

// Timing semantics (as the chunked cache): token p is stored, the cache then quantizes what has
// left the residual window, then query p attends. After S tokens, values 0 .. S-R-1 are quantized
// and keys 0 .. Kq-1 with Kq = floor(max(0, S-R) / group) * group (whole key blocks only). A
// prefill block gives every query what token-by-token decoding would.
class QuantCache : public KvCache {
 public:
  QuantCache(const LlamaConfig& cfg, QuantCacheOptions opts, int64_t batch, at::ScalarType dtype,
             at::Device device);

  // q: [B,Hq,T,d] pre-RoPE, k/v: [B,Hkv,T,d] (k pre-RoPE), w_o: [hidden, Hq*d] -> [B,T,hidden]
  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override;
  void advance(int64_t tokens) override;
  int64_t length() const override { return len_; }
  // Packed codes + fp16 scales/zero points (reserved capacity included) + the unquantized tails.
  std::vector<int64_t> layer_bytes() const override;
  void reset() override;
  std::string name() const override { return "quant"; }

  // Keys / values quantized once `tokens` tokens are stored.
  int64_t quantized_keys(int64_t tokens) const;
  int64_t quantized_values(int64_t tokens) const;

 private:
  struct Layer {
    QuantRows key_blocks;   // [B, Hkv, blocks, d*group]: block b, channel c at [c*group, (c+1)*group)
    QuantRows values;       // [B, Hkv, Vq, d] per token
    at::Tensor key_tail;    // [B, Hkv, S-Kq, d] post-RoPE keys not yet quantized (exact size, 16-bit)
    at::Tensor value_tail;  // [B, Hkv, S-Vq, d] (16-bit)
    int64_t stored = 0;
  };
  // Dequantized key blocks as rows: [B, Hkv, blocks*group, d].
  at::Tensor read_keys(const Layer& L) const;

  LlamaConfig cfg_;
  QuantCacheOptions opts_;
  int64_t batch_ = 0;
  at::ScalarType dtype_;
  at::ScalarType tail_dtype_;  // 16-bit storage of the unquantized tails
  at::Device device_;
  std::vector<Layer> layers_;
  int64_t len_ = 0;
};

}  // namespace kvsvd
