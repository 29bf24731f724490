// The KV bytes one decode step must read per sequence under a cache configuration, counted from
// its layout (not from what a cache object happens to have allocated): bench decode's byte bound.
#pragma once
#include <cstdint>

#include "core/eval/cache-factory.h"

namespace kvsvd {

// Bytes read from the cache by one decode step of one sequence that holds `tokens` tokens after
// a prompt of `prompt` tokens, all layers. Per method:
//   full     keys and values in the cache dtype;
//   svd      key coefficients at r_k and value coefficients at each token's policy rank;
//   quant    codes + fp16 scale/zero per group for quantized keys (whole blocks) and values,
//            the rest in the cache dtype (QuantCache::quantized_keys/values);
//   chunked  closed chunks as rank-r factors (U_r S_r [C, r] and V_rᵀ [r, d] for keys and
//            values), the open chunk's rows in the cache dtype.
// --kv-bits 8|4|2 stores coefficients/factors as codes with fp16 scale and zero per group;
// --kv-bits 16 as 16-bit floats.
double kv_read_bytes_per_step(const CacheConfig& c, const LlamaConfig& cfg, at::ScalarType dtype,
                              int64_t prompt, int64_t tokens);

}  // namespace kvsvd
