// The low-rank cache (method `svd`): keys at rank r_k in a per-head basis (pre- or post-RoPE),
// values at per-token nested ranks chosen by a rank policy, W_O fused with the value basis so
// values are never rebuilt in head_dim.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "core/compress/profile-method.h"
#include "core/compress/rank-plan.h"
#include "core/kv/kv-cache.h"
#include "core/kv/kv-profile.h"
#include "core/kv/quant-rows.h"
#include "core/kv/quant-spec.h"
#include "core/kv/rank-policy.h"

namespace kvsvd {

struct SvdCacheOptions {
  int64_t key_rank = 0;                // r_k, 1 .. profile.key_rank; 0: the profile's key rank
  std::vector<NamedRank> value_ranks;  // must name every level the policy uses (low/med/high),
                                       //   each 1 .. profile.value_rank; empty: d/4, d/2, d
                                       //   capped at profile.value_rank
  RankPolicy policy;                   // default uniform:high
  KeySpace key_space = KeySpace::PreRope;  // must match the space the key bases were built in
  // Storage of the key and value coefficients (--kv-bits, --quant-group): per token, groups
  // across the coefficient dimension (a rank the group does not divide leaves a shorter last group).
  QuantSpec quant;
  // --hadamard: rotate each coefficient space by a fixed orthogonal Hadamard matrix before
  // quantizing. Keys: folded into the key basis (P_K H). Values: per rank group r, stored as
  // c H_r and rotated back (H_rᵀ) on read, which keeps the nested value bases nested.
  bool hadamard = false;
};

class SvdCache : public KvCache {
 public:
  // `w_o`: optional per-layer o_proj weights [hidden, Hq*d] to fuse now; when empty the fused
  // matrices come from the profile, or else are built from the w_o of each layer's first attend.
  SvdCache(KvProfile profile, const LlamaConfig& cfg, SvdCacheOptions opts, int64_t batch,
           at::ScalarType dtype, at::Device device, const std::vector<at::Tensor>& w_o = {});

  // q: [B,Hq,T,d] pre-RoPE, k/v: [B,Hkv,T,d] (k pre-RoPE), w_o: [hidden, Hq*d] -> [B,T,hidden]
  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override;
  void advance(int64_t tokens) override;
  int64_t length() const override { return len_; }
  // Coefficients (keys [B,Hkv,cap,r_k], value groups [B,Hkv,cap_g,r]) + position index tensors,
  // as allocated (growth reserves up to 2x; shrink_to_fit() trims to what is used).
  std::vector<int64_t> layer_bytes() const override;
  int64_t shared_bytes() const override;  // the position index tensors of the rank groups
  void reset() override;
  std::string name() const override { return "svd"; }

  // Bases and fused output matrices held for attention (weights, not cache), all layers.
  int64_t weights_bytes() const;
  // Prompt length for the rank policy (positions >= n are generated tokens). 0 (default): the
  // length of the first block stored after construction or reset().
  void set_prompt_length(int64_t n);
  int64_t prompt_length() const { return prompt_len_; }
  // Reallocates every storage tensor to exactly its used size.
  void shrink_to_fit();

  int64_t key_rank() const { return key_rank_; }
  KeySpace key_space() const { return opts_.key_space; }
  // The value rank each cached token was stored at, by position (same for every layer).
  const std::vector<int64_t>& token_ranks() const { return token_ranks_; }
  // Distinct value ranks the options can produce, ascending (one storage group each).
  const std::vector<int64_t>& group_ranks() const { return group_ranks_; }
  // Tokens stored in `layer`'s group of value rank `rank` (0 for a rank with no group).
  int64_t group_size(int64_t layer, int64_t rank) const;

  // Shared with StaticSvdCache (the fixed-capacity layout of the same maths):
  const at::Tensor& key_basis(int64_t layer) const;    // [Hkv, d, r_k] (P_K H under --hadamard)
  const at::Tensor& value_basis(int64_t layer) const;  // [Hkv, d, r_top]
  // [hidden, Hq*r_top] W̃_O, fused from `w_o` [hidden, Hq*d] on first use when not given.
  const at::Tensor& fused_output(int64_t layer, const at::Tensor& w_o);
  int64_t top_value_rank() const { return r_top_; }
  // The value rank of each token at positions pos0 .. pos0+count-1 for a prompt of prompt_len.
  std::vector<int64_t> value_ranks_at(int64_t pos0, int64_t count, int64_t prompt_len) const;

 private:
  struct Group {
    int64_t rank = 0;
    int64_t size = 0;      // tokens used
    QuantRows coeff;       // [B, Hkv, cap, rank] value coefficients P_V[:, :rank]ᵀ v (rotated by
                           //   `rotation` under --hadamard)
    at::Tensor rotation;   // [rank, rank] H_r under --hadamard, else undefined
    at::Tensor positions;  // [cap] int64 absolute positions of those tokens, ascending
  };
  struct Layer {
    at::Tensor key_basis;    // [Hkv, d, r_k]
    at::Tensor value_basis;  // [Hkv, d, r_top]
    at::Tensor fused;        // [hidden, Hq*r_top] W̃_O flattened over (query head, rank)
    QuantRows keys;          // [B, Hkv, cap, r_k] key coefficients
    std::vector<Group> groups;  // one per group_ranks_ entry, same order
  };
  // The current block's plan (shared by all layers): per group, offsets into the block.
  struct BlockPlan {
    int64_t pos0 = -1, count = 0;
    std::vector<at::Tensor> offsets;    // per group: [n_g] int64 offsets into the block
    std::vector<at::Tensor> positions;  // per group: [n_g] int64 absolute positions
  };

  int64_t rank_of(RankLevel level) const;
  const BlockPlan& plan_block(int64_t pos0, int64_t count);
  void fuse(Layer& L, const at::Tensor& w_o) const;

  LlamaConfig cfg_;
  SvdCacheOptions opts_;
  int64_t batch_ = 0;
  at::ScalarType dtype_;
  at::Device device_;
  int64_t key_rank_ = 0;
  int64_t r_top_ = 0;  // largest value rank in use
  std::vector<int64_t> group_ranks_;
  std::vector<Layer> layers_;
  std::vector<int64_t> token_ranks_;
  int64_t len_ = 0;
  int64_t prompt_len_ = 0;
  int64_t explicit_prompt_len_ = 0;
  BlockPlan plan_;
};

}  // namespace kvsvd
