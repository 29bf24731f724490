// KIVI-style cache: quantized history, exact recent tokens, attention over dequantized temporaries.
#include "core/kv/quant-cache.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/kv/quant-spec.h"
#include "core/util/error.h"

namespace kvsvd {

void check_quant_cache_options(const QuantCacheOptions& o) {
  check_kv_bits(o.bits, /*allow_none=*/false);
  check_quant_group(o.group);
  check_residual(o.residual);
}

QuantCache::QuantCache(const LlamaConfig& cfg, QuantCacheOptions opts, int64_t batch,
                       at::ScalarType dtype, at::Device device)
    : cfg_(cfg), opts_(opts), batch_(batch), dtype_(dtype),
      tail_dtype_(dtype == at::kBFloat16 ? at::kBFloat16 : at::kHalf), device_(device) {
  check_quant_cache_options(opts_);
  KVSVD_CHECK(batch > 0, "quant cache: batch must be > 0, got ", batch);
  KVSVD_CHECK(cfg.num_layers > 0 && cfg.num_kv_heads > 0 && cfg.head_dim > 0 &&
                  cfg.num_heads % cfg.num_kv_heads == 0,
              "quant cache: config needs layers, KV heads, head_dim, and Hq % Hkv == 0");
  auto opt = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    Layer L;
    // Key blocks: one row per block, one group per channel (its `group` tokens).
    L.key_blocks = QuantRows(QuantSpec{opts_.bits, opts_.group}, dtype);
    L.values = QuantRows(QuantSpec{opts_.bits, opts_.group}, dtype);
    // Empty appends fix the row shapes, so reads of zero rows work before the first block.
    L.key_blocks.append(at::empty({batch, cfg.num_kv_heads, 0, cfg.head_dim * opts_.group}, opt));
    L.values.append(at::empty({batch, cfg.num_kv_heads, 0, cfg.head_dim}, opt));
    L.key_tail = at::empty({batch, cfg.num_kv_heads, 0, cfg.head_dim}, opt.dtype(tail_dtype_));
    L.value_tail = at::empty({batch, cfg.num_kv_heads, 0, cfg.head_dim}, opt.dtype(tail_dtype_));
    layers_.push_back(std::move(L));
  }
}

int64_t QuantCache::quantized_keys(int64_t tokens) const {
  return std::max<int64_t>(0, tokens - opts_.residual) / opts_.group * opts_.group;
}

int64_t QuantCache::quantized_values(int64_t tokens) const {
  return std::max<int64_t>(0, tokens - opts_.residual);
}

at::Tensor QuantCache::read_keys(const Layer& L) const {
  const int64_t d = cfg_.head_dim, G = opts_.group;
  if (L.key_blocks.size() == 0)
    return at::empty({batch_, cfg_.num_kv_heads, 0, d}, L.key_tail.options().dtype(dtype_));
  const at::Tensor b = L.key_blocks.read();  // [B, Hkv, nb, d*G]
  const int64_t nb = b.size(2);
  return b.view({batch_, cfg_.num_kv_heads, nb, d, G}).transpose(3, 4).reshape(
      {batch_, cfg_.num_kv_heads, nb * G, d});
}

at::Tensor QuantCache::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                              const at::Tensor& v, const Rope& rope, const at::Tensor& w_o) {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(layers_.size()), "quant cache: layer ",
              layer, " out of range [0, ", layers_.size(), ")");
  const int64_t Hq = cfg_.num_heads, Hkv = cfg_.num_kv_heads, d = cfg_.head_dim;
  const int64_t Gq = Hq / Hkv, G = opts_.group;
  KVSVD_CHECK(q.dim() == 4 && q.size(0) == batch_ && q.size(1) == Hq && q.size(3) == d,
              "quant cache: layer ", layer, " expected q [", batch_, ", ", Hq, ", T, ", d,
              "], got ", q.sizes());
  const int64_t T = q.size(2);
  KVSVD_CHECK(k.dim() == 4 && k.size(0) == batch_ && k.size(1) == Hkv && k.size(2) == T &&
                  k.size(3) == d && v.sizes() == k.sizes(),
              "quant cache: layer ", layer, " expected k, v [", batch_, ", ", Hkv, ", ", T, ", ",
              d, "], got ", k.sizes(), " and ", v.sizes());
  Layer& L = layers_[layer];
  const int64_t pos0 = len_, S = len_ + T;
  KVSVD_CHECK(L.stored == pos0, "quant cache: layer ", layer, " already holds ", L.stored,
              " tokens but the cache length is ", pos0, " (attend twice without advance?)");

  const at::Tensor qr = rope.apply(q.to(dtype_), pos0).reshape({batch_, Hkv, Gq, T, d});
  // Unquantized columns: the old tails followed by the block ([kq0, S) and [vq0, S)).
  const int64_t kq0 = L.key_blocks.size() * G, vq0 = L.values.size();
  // The block is rounded to the tails' 16 bits at once, so that a query sees a token exactly as
  // every later query does (prefill == decode).
  auto as16 = [&](const at::Tensor& x) { return x.to(tail_dtype_).to(dtype_); };
  const at::Tensor k_cols = at::cat({L.key_tail.to(dtype_), as16(rope.apply(k.to(dtype_), pos0))}, 2);
  const at::Tensor v_cols = at::cat({L.value_tail.to(dtype_), as16(v.to(dtype_))}, 2);
  // Quantize what leaves the residual window by the end of this block.
  const int64_t kq1 = quantized_keys(S), vq1 = quantized_values(S);
  if (kq1 > kq0) {
    const int64_t nb = (kq1 - kq0) / G;  // [B,Hkv,nb*G,d] -> [B,Hkv,nb,d,G] -> [B,Hkv,nb,d*G]
    L.key_blocks.append(k_cols.narrow(2, 0, kq1 - kq0)
                            .reshape({batch_, Hkv, nb, G, d})
                            .transpose(3, 4)
                            .reshape({batch_, Hkv, nb, d * G}));
  }
  if (vq1 > vq0) L.values.append(v_cols.narrow(2, 0, vq1 - vq0));

  // Dequantized temporaries: "quantized view" columns (quantized wherever the end state is) and
  // "exact view" columns (quantized only where they already were before this block).
  const at::Tensor k_deq = read_keys(L);    // [B,Hkv,kq1,d]
  const at::Tensor v_deq = L.values.read(); // [B,Hkv,vq1,d]
  const at::Tensor k_q = at::cat({k_deq, k_cols.narrow(2, kq1 - kq0, S - kq1)}, 2);  // [B,Hkv,S,d]
  const at::Tensor v_q = at::cat({v_deq, v_cols.narrow(2, vq1 - vq0, S - vq1)}, 2);

  auto lopt = at::TensorOptions().dtype(at::kLong).device(device_);
  const at::Tensor kpos = at::arange(0, S, lopt).unsqueeze(0);  // [1, S]
  const at::Tensor qpos = at::arange(pos0, S, lopt).unsqueeze(1);  // [T, 1]
  auto scores_of = [&](const at::Tensor& keys) {  // [B,Hkv,S,d] -> [B,Hkv,Gq,T,S]
    return at::matmul(qr, keys.unsqueeze(2).transpose(3, 4));
  };
  at::Tensor s = scores_of(k_q);
  if (kq1 > kq0) {
    // Query p sees key j quantized iff j < Kq(p + 1).
    const at::Tensor k_x = at::cat({k_deq.narrow(2, 0, kq0), k_cols}, 2);
    const at::Tensor bound = at::div((qpos + 1 - opts_.residual).clamp_min(0), G, "floor") * G;  // [T,1]
    s = at::where(kpos < bound, s, scores_of(k_x));
  }
  s = s * (1.0 / std::sqrt(static_cast<double>(d)));
  if (T > 1) s = s.masked_fill(kpos > qpos, -std::numeric_limits<double>::infinity());
  const at::Tensor probs = at::softmax(s, -1, at::kFloat).to(dtype_);  // [B,Hkv,Gq,T,S]

  at::Tensor out;
  if (vq1 > vq0) {
    const at::Tensor v_x = at::cat({v_deq.narrow(2, 0, vq0), v_cols}, 2);
    const at::Tensor quant = kpos < (qpos + 1 - opts_.residual);  // [T, S]
    out = at::matmul(probs.masked_fill(quant.logical_not(), 0), v_q.unsqueeze(2)) +
          at::matmul(probs.masked_fill(quant, 0), v_x.unsqueeze(2));
  } else {
    out = at::matmul(probs, v_q.unsqueeze(2));  // [B,Hkv,Gq,T,d]
  }

  // Commit the tails at exact size (clones: a view would keep the whole block alive).
  L.key_tail = k_cols.narrow(2, kq1 - kq0, S - kq1).to(tail_dtype_).clone(at::MemoryFormat::Contiguous);
  L.value_tail = v_cols.narrow(2, vq1 - vq0, S - vq1).to(tail_dtype_).clone(at::MemoryFormat::Contiguous);
  L.stored = S;

  out = out.reshape({batch_, Hq, T, d}).transpose(1, 2).reshape({batch_, T, Hq * d});
  return at::linear(out, w_o);  // [B, T, hidden]
}

void QuantCache::advance(int64_t tokens) {
  KVSVD_CHECK(tokens >= 0, "quant cache: advance by ", tokens);
  len_ += tokens;
  for (size_t l = 0; l < layers_.size(); ++l)
    KVSVD_CHECK(layers_[l].stored == len_, "quant cache: advance to ", len_, " but layer ", l,
                " holds ", layers_[l].stored, " tokens");
}

void QuantCache::reset() {
  len_ = 0;
  for (Layer& L : layers_) {
    L.key_blocks.clear();
    L.values.clear();
    L.key_tail = L.key_tail.narrow(2, 0, 0).clone();
    L.value_tail = L.value_tail.narrow(2, 0, 0).clone();
    L.stored = 0;
  }
}

std::vector<int64_t> QuantCache::layer_bytes() const {
  std::vector<int64_t> out;
  for (const Layer& L : layers_)
    out.push_back(L.key_blocks.bytes() + L.values.bytes() + storage_bytes(L.key_tail) +
                  storage_bytes(L.value_tail));
  return out;
}

}  // namespace kvsvd
