// The low-rank cache at per-(layer, KV head) ranks (`svd --head-ranks`): each head keeps its own
// key and value coefficients at the ranks a budget profile allocated, pre-RoPE keys rebuilt and
// rotated for the scores, values read through per-query-head fused W_O · B_V.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "core/kv/kv-cache.h"
#include "core/kv/kv-profile.h"
#include "core/kv/quant-rows.h"
#include "core/kv/quant-spec.h"

namespace kvsvd {

// Per-layer, per-KV-head ranks: key[l][h], value[l][h] in [1, head_dim] (or 0 for "the
// profile's"; see HeadRankCache).
struct HeadRanks {
  std::vector<std::vector<int64_t>> key, value;  // [L][Hkv]
};

// The profile's own per-head ranks.
HeadRanks profile_head_ranks(const KvProfile& p);

class HeadRankCache : public KvCache {
 public:
  // `profile` must hold fused outputs (with_fused_output fills them) and bases of at least the
  // ranks asked for; keys are pre-RoPE. Errors name the layer and head.
  HeadRankCache(const KvProfile& profile, const HeadRanks& ranks, const LlamaConfig& cfg,
                QuantSpec quant, int64_t batch, at::ScalarType dtype, at::Device device);

  // q: [B,Hq,T,d] pre-RoPE, k/v: [B,Hkv,T,d] (k pre-RoPE) -> [B,T,hidden]
  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override;
  void advance(int64_t tokens) override { len_ += tokens; }
  int64_t length() const override { return len_; }
  std::vector<int64_t> layer_bytes() const override;
  void reset() override;
  std::string name() const override { return "svd-heads"; }

 private:
  struct Head {
    int64_t rk = 0, rv = 0;
    at::Tensor key_basis;    // [d, rk]
    at::Tensor value_basis;  // [d, rv] (encodes v; the decode side is in `fused`)
    QuantRows keys, values;  // [B, 1, S, rk] / [B, 1, S, rv]
  };
  struct Layer {
    std::vector<Head> heads;  // [Hkv]
    at::Tensor fused;         // [hidden, Σ_i rv(g(i))] query heads in order
  };
  LlamaConfig cfg_;
  int64_t batch_;
  at::ScalarType dtype_;
  std::vector<Layer> layers_;
  int64_t len_ = 0;
};

}  // namespace kvsvd
