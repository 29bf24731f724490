// One KV-cache configuration of an evaluation (a method and its parameters), its label and
// params as results/README.md writes them, and the factory that builds its cache.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/compress/profile-method.h"
#include "core/compress/rank-plan.h"
#include "core/kv/chunked-cache.h"
#include "core/kv/kv-cache.h"
#include "core/kv/kv-profile.h"
#include "core/kv/methods.h"
#include "core/kv/rank-policy.h"
#include "core/model/llama.h"

namespace kvsvd {

struct CacheConfig {
  KvMethod method = KvMethod::Full;
  // svd: key_rank and value_ranks resolved against the store (>= 1 each).
  int64_t key_rank = 0;
  std::vector<NamedRank> value_ranks;
  RankPolicy policy;
  KeySpace key_space = KeySpace::PreRope;
  std::string profile_method;  // the store's basis method, for results ("" when unknown)
  bool head_ranks = false;     // svd: each (layer, KV head) at the store's own ranks
                               //   (core/kv/head-rank-cache.h); key_rank / value_ranks unused
  // chunked
  ChunkedCacheOptions chunked;
  // Storage (svd, chunked, quant): --kv-bits (0: the cache dtype; quant needs 16|8|4|2),
  // --quant-group, --residual (quant only), --hadamard (svd only, with 8|4|2 bits).
  int64_t kv_bits = 0;
  int64_t quant_group = 32;
  int64_t residual = 32;
  bool hadamard = false;
};

// Unique per distinct configuration: "full", "svd/k16/v16-32-64/position",
// "svd/heads" (per-head ranks), "chunked/c64/x4", "chunked/c64/e0.9/f0.25", "quant/4b/g32/r32"; svd and chunked with --kv-bits
// add the storage: "svd/k16/v16-32-64/position/4b/g32/had", "chunked/c64/x4/16b".
std::string cache_config_label(const CacheConfig& c);
// The `params` object of a results[] entry (zeros for what the method does not use).
// kv_bits: the configuration's --kv-bits, or the bits of `cache_dtype` when it stores unquantized.
nlohmann::json cache_config_params(const CacheConfig& c, at::ScalarType cache_dtype);

// Fills every layer's fused output W_O·P_V from the model where the profile holds none, so that
// caches built per window copy it instead of recomputing it. profile: [Hkv,d,r] bases per layer.
KvProfile with_fused_output(KvProfile profile, const LlamaModel& model);
// The same for a slice of layers (a pipeline stage): `w_o[l]` is layer l's o_proj [hidden, Hq*d]
// for the profile's layers in order; `cfg.num_layers` = the profile's layers.
KvProfile with_fused_output(KvProfile profile, const LlamaConfig& cfg,
                            const std::vector<at::Tensor>& w_o, at::ScalarType dtype);

// An empty cache for `batch` sequences (evaluate: one) on the model's device and dtype.
// `capacity`: tokens the full cache reserves (the others allocate exactly what they store on the
// first block). `profile` is required for svd (errors name --store).
std::unique_ptr<KvCache> make_cache(const CacheConfig& c, const LlamaModel& model,
                                    const KvProfile* profile, int64_t capacity,
                                    int64_t batch = 1);
// The same from a config (a pipeline stage's: num_layers = its own layers), dtype and device.
std::unique_ptr<KvCache> make_cache(const CacheConfig& c, const LlamaConfig& cfg,
                                    at::ScalarType dtype, at::Device device,
                                    const KvProfile* profile, int64_t capacity,
                                    int64_t batch = 1);

}  // namespace kvsvd
