// The uncompressed baseline cache: post-RoPE keys and values, grown in place.
#pragma once
#include "core/kv/kv-cache.h"

namespace kvsvd {

class FullCache : public KvCache {
 public:
  // Reserves room for `capacity` tokens per layer ([B, Hkv, capacity, d] each), grows on demand.
  FullCache(const LlamaConfig& cfg, int64_t batch, int64_t capacity, at::ScalarType dtype,
            at::Device device);
  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override;
  void advance(int64_t tokens) override { len_ += tokens; }
  int64_t length() const override { return len_; }
  std::vector<int64_t> layer_bytes() const override;
  void reset() override { len_ = 0; }
  std::string name() const override { return "full"; }

 private:
  LlamaConfig cfg_;
  std::vector<at::Tensor> k_, v_;  // per layer [B, Hkv, capacity, d], post-RoPE keys
  int64_t len_ = 0;
};

// Which kernel causal_gqa_attention uses. Auto: at::scaled_dot_product_attention where the
// LibTorch build has it with GQA support (>= 2.5), else the manual path. Manual: explicit
// matmul + float32 softmax, same operation order as transformers' eager attention (bitwise
// stable across runs on one device). The process-wide default is Auto, or Manual when the
// environment variable KVSVD_ATTENTION=manual is set.
enum class AttentionKernel { Auto, Manual };
void set_attention_kernel(AttentionKernel kernel);
AttentionKernel attention_kernel();

// Causal GQA attention of q [B,Hq,T,d] over k,v [B,Hkv,S,d] where the T queries sit at positions
// S-T .. S-1. Returns [B, Hq, T, d]. Softmax in float32. Shared by caches that hold full keys.
at::Tensor causal_gqa_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// The same through at::scaled_dot_product_attention for blocks of several queries, with an explicit
// `scale` and value heads of any width: q [B,Hq,T,dk], k [B,Hkv,S,dk], v [B,Hkv,S,dv] ->
// [B,Hq,T,dv]. KV heads are expanded to Hq first (a per-call workspace) so that the fused kernels
// that lack GQA or unequal widths are still chosen. Returns an undefined tensor where SDPA is not
// available (LibTorch < 2.5), the kernel is Manual, or T == 1 (decode: a single query reads each
// cached row once, which the explicit path does without SDPA's per-length planning cost).
at::Tensor sdpa_causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 double scale);

}  // namespace kvsvd
