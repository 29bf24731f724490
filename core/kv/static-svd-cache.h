// The svd cache (pre- or post-RoPE keys, per-token value ranks by policy, fused W_O) in a
// fixed-capacity layout whose decode step is graph-capturable: key coefficients [B, Hkv, cap, r_k]
// and value coefficients [B, Hkv, cap, r_top] with each token's coefficients past its rank zeroed
// (the nested groups of SvdCache in one tensor), the filled length on the device, RoPE from a
// table built once for the capacity, and attention over the whole capacity under a length mask
// (no data-dependent shapes, no host synchronisation, nothing allocated that changes between
// steps). Bases, fused outputs and the rank policy are SvdCache's. Unquantized coefficients only:
// --kv-bits and --hadamard run through EagerStepCache.
#pragma once
#include <memory>

#include "core/kernels/rope-table.h"
#include "core/kv/step-cache.h"
#include "core/kv/svd-cache.h"

namespace kvsvd {

class StaticSvdCache : public StepCache {
 public:
  // As SvdCache's constructor, plus room for exactly `capacity` tokens. Refuses quantized or
  // rotated storage (opts.quant, opts.hadamard), naming the flag.
  StaticSvdCache(KvProfile profile, const LlamaConfig& cfg, SvdCacheOptions opts, int64_t batch,
                 int64_t capacity, at::ScalarType dtype, at::Device device,
                 const std::vector<at::Tensor>& w_o = {});

  // Blocks of T tokens at the host length (prefill; T == 1 takes decode_step's path).
  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override;
  // q [B, Hq, d], k, v [B, Hkv, d] pre-RoPE -> [B, hidden]; writes at the device positions.
  at::Tensor decode_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                         const at::Tensor& v, const at::Tensor& w_o) override;
  void advance(int64_t tokens) override;
  int64_t length() const override { return len_; }
  // Coefficient storage at capacity (keys + values at r_top) and the rank mask.
  std::vector<int64_t> layer_bytes() const override;
  void reset() override;
  std::string name() const override { return "svd-static"; }

  at::Tensor& positions() override { return pos_; }
  void set_host_length(int64_t n) override;
  int64_t capacity() const override { return capacity_; }
  const SvdCache& bases() const { return bases_; }

 private:
  // q̃ or rope(q) against the keys of rows 0 .. S-1, masked by `hidden` [.., S] (true: not
  // attended); probs times the value coefficients, then the fused W_O. q: [B, Hq, T, d] post-RoPE.
  at::Tensor attend_rows(int64_t layer, const at::Tensor& qr, int64_t S, const at::Tensor& hidden,
                         const at::Tensor& w_o);

  SvdCache bases_;  // its own storage stays empty: bases, fused W_O, rank policy
  LlamaConfig cfg_;
  bool pre_rope_ = true;
  int64_t batch_ = 0, capacity_ = 0, key_rank_ = 0, r_top_ = 0;
  at::ScalarType dtype_;
  at::Device device_;
  int64_t len_ = 0, prompt_len_ = 0;
  std::vector<int64_t> token_ranks_;  // [capacity] once the prompt length is known
  std::vector<at::Tensor> keys_;    // per layer [B, Hkv, cap, r_k]: P_Kᵀ k or P_Kᵀ rope(k)
  std::vector<at::Tensor> values_;  // per layer [B, Hkv, cap, r_top]: P_Vᵀ v, past rank zeroed
  at::Tensor rank_mask_;            // [cap, r_top] in dtype: 1 where a token keeps a coefficient
  at::Tensor pos_;                  // [B] int32: tokens cached
  at::Tensor kpos_;                 // [cap] int32: 0 .. cap-1
  std::unique_ptr<RopeTable> table_;  // cos/sin [capacity, d]
};

}  // namespace kvsvd
