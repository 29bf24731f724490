// The chunked online-SVD cache (method `chunked`, the seed's ChunkedDecomp): every full chunk of
// C post-RoPE key / value rows per KV head is replaced by its truncated SVD; the open chunk is exact.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "core/kv/kv-cache.h"
#include "core/kv/quant-rows.h"
#include "core/kv/quant-spec.h"

namespace kvsvd {

struct ChunkedCacheOptions {
  int64_t chunk_size = 64;         // C rows per chunk (--chunk-size, > 0)
  double compression_ratio = 4.0;  // > 0: rank r = max(1, floor(C*d / (ratio*(C+d)))), so that
                                   //   r*(C+d) ≈ C*d / ratio (--compression-ratio)
  double energy_threshold = 0;     // > 0: used instead of the ratio: smallest rank keeping this
                                   //   fraction of Σσ² (--energy-threshold, in (0, 1])
  double min_rank_ratio = 0;       // energy mode floor: rank >= ceil(ratio * min(C, d))
                                   //   (--min-rank-ratio, in [0, 1])
  // Storage of the compressed factors (--kv-bits, --quant-group): each row of U_r S_r and of V_rᵀ
  // in groups along the row. The open chunk stays unquantized, in 16-bit floats when bits are set
  // (the cache dtype when it is fp16/bf16, else fp16) and in the cache dtype when bits = 0.
  QuantSpec quant;
};
// Checks the options (errors name the flag).
void check_chunked_options(const ChunkedCacheOptions& opts);

// Timing semantics: token p is stored, then its chunk is compressed if it just filled, then query
// p attends. A prefill block therefore gives every query exactly what token-by-token decoding
// would: chunks that closed at or before its position are compressed, its own open chunk exact.
class ChunkedCache : public KvCache {
 public:
  ChunkedCache(const LlamaConfig& cfg, ChunkedCacheOptions opts, int64_t batch,
               at::ScalarType dtype, at::Device device);

  // q: [B,Hq,T,d] pre-RoPE, k/v: [B,Hkv,T,d] (k pre-RoPE), w_o: [hidden, Hq*d] -> [B,T,hidden]
  at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const Rope& rope, const at::Tensor& w_o) override;
  void advance(int64_t tokens) override;
  int64_t length() const override { return len_; }
  // Compressed factors (exact size) + the open chunk buffers ([B,Hkv,C,d] keys and values).
  std::vector<int64_t> layer_bytes() const override;
  void reset() override;
  std::string name() const override { return "chunked"; }

  // Rank of each compressed chunk of `layer`: (key rank, value rank), in position order. In
  // energy mode one rank serves the whole batch and all KV heads of a chunk: the largest any
  // (sequence, head) needs, so the tensors stay dense.
  std::vector<std::pair<int64_t, int64_t>> chunk_ranks(int64_t layer) const;
  // The rank a chunk gets in ratio mode (min(C, d) at most).
  int64_t ratio_rank() const;

 private:
  struct Chunk {  // stored at opts_.quant; read() dequantizes into attention temporaries
    QuantRows k_us, k_vh;  // [B,Hkv,C,rk] U_r S_r, [B,Hkv,rk,d] V_rᵀ of the key rows
    QuantRows v_us, v_vh;  // [B,Hkv,C,rv], [B,Hkv,rv,d] of the value rows
  };
  struct Factors {
    at::Tensor k_us, k_vh, v_us, v_vh;  // as in Chunk, in the cache dtype
  };
  Chunk store(const at::Tensor& k_rows, const at::Tensor& v_rows) const;  // [B,Hkv,C,d] each
  static Factors read(const Chunk& c);
  struct Layer {
    std::vector<Chunk> chunks;
    at::Tensor k_open, v_open;  // [B,Hkv,C,d] exact rows of the open chunk (first len % C used),
                                //   in open_dtype_
    int64_t stored = 0;         // tokens this layer holds
  };
  // x: [B,Hkv,C,d] -> (U_r S_r [B,Hkv,C,r], V_rᵀ [B,Hkv,r,d]) in the cache dtype.
  std::pair<at::Tensor, at::Tensor> compress(const at::Tensor& x) const;

  LlamaConfig cfg_;
  ChunkedCacheOptions opts_;
  int64_t batch_ = 0;
  at::ScalarType dtype_;
  at::ScalarType open_dtype_;  // the open chunk's storage
  at::Device device_;
  std::vector<Layer> layers_;
  int64_t len_ = 0;
};

}  // namespace kvsvd
