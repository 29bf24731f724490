// The KV-cache interface every attention layer talks to: a cache owns how keys and values are
// stored, how attention reads them, and the output projection (the svd cache fuses W_O with its
// value basis, so the projection cannot live outside it).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/kv/rope.h"

namespace kvsvd {

class KvCache {
 public:
  virtual ~KvCache() = default;

  // Stores this block's keys and values for `layer`, then returns the attention block's output
  // after the output projection, computed only from what the cache holds (causal: query t sees
  // cached tokens 0 .. pos0+t, where pos0 = length() before this block).
  //   q:   [B, Hq, T, d]  pre-RoPE queries (the cache applies RoPE where its design needs it)
  //   k:   [B, Hkv, T, d] pre-RoPE keys
  //   v:   [B, Hkv, T, d] values
  //   w_o: [hidden, Hq*d] the layer's o_proj weight
  //   returns [B, T, hidden]
  virtual at::Tensor attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const Rope& rope, const at::Tensor& w_o) = 0;

  // Called by the model once every layer has seen a block of T tokens.
  virtual void advance(int64_t tokens) = 0;
  virtual int64_t length() const = 0;  // tokens cached (same for every layer)
  // Bytes of tensor storage the cache really holds, per layer (sum = total).
  virtual std::vector<int64_t> layer_bytes() const = 0;
  int64_t bytes() const;
  // Of bytes(), what every sequence of a batch shares (the svd cache's position index); the
  // rest is B equal per-sequence parts.
  virtual int64_t shared_bytes() const { return 0; }
  virtual void reset() = 0;
  virtual std::string name() const = 0;
};

// Bytes held by a tensor's storage (nbytes of the whole storage, not just the view).
int64_t storage_bytes(const at::Tensor& t);

// Writes `rows` at [used, used+n) along `dim` of `store` (n = rows.size(dim)), reallocating it
// by grown_capacity (core/util/growth.h) when full; the first `used` entries are kept.
void append_rows(at::Tensor& store, int64_t used, const at::Tensor& rows, int64_t dim);

}  // namespace kvsvd
