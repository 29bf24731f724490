#include "core/kv/static-quant-cache.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/kv/quant-tensor.h"
#include "core/kv/rope-rows.h"
#include "core/util/error.h"

namespace kvsvd {

StaticQuantCache::StaticQuantCache(const LlamaConfig& cfg, QuantCacheOptions opts, int64_t batch,
                                   int64_t capacity, at::ScalarType dtype, at::Device device)
    : cfg_(cfg),
      opts_(opts),
      batch_(batch),
      capacity_(capacity),
      dtype_(dtype),
      tail_dtype_(dtype == at::kBFloat16 ? at::kBFloat16 : at::kHalf),
      device_(device) {
  check_quant_cache_options(opts_);
  KVSVD_CHECK(batch > 0 && capacity > 0, "quant static cache: batch and capacity must be > 0, got ",
              batch, " and ", capacity);
  const int64_t G = opts_.group, d = cfg.head_dim, Hkv = cfg.num_kv_heads;
  blocks_ = (capacity + G - 1) / G;
  // Exact rows still needed: the window (R), the partial key block (< G) and the newest complete
  // block, re-quantized every step (< G more).
  ring_ = opts_.residual + 2 * G;
  auto opt = at::TensorOptions().dtype(dtype).device(device);
  at::Tensor c, s, z;
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    Layer L;
    auto alloc = [&](int64_t rows, int64_t width, at::Tensor* codes, at::Tensor* scale,
                     at::Tensor* zero) {
      encode(at::zeros({batch, Hkv, 1, width}, opt), &c, &s, &z);  // probe of the widths
      *codes = at::zeros({batch, Hkv, rows, c.size(3)}, c.options());
      if (s.defined()) *scale = at::zeros({batch, Hkv, rows, s.size(3)}, s.options());
      if (z.defined()) *zero = at::zeros({batch, Hkv, rows, z.size(3)}, z.options());
    };
    alloc(blocks_ + 1, d * G, &L.key_codes, &L.key_scale, &L.key_zero);  // + a spare block
    alloc(capacity + 1, d, &L.val_codes, &L.val_scale, &L.val_zero);     // + a spare row
    L.key_ring = at::zeros({batch, Hkv, ring_, d}, opt.dtype(tail_dtype_));
    L.val_ring = at::zeros({batch, Hkv, ring_, d}, opt.dtype(tail_dtype_));
    layers_.push_back(std::move(L));
  }
  pos_ = at::zeros({batch}, at::TensorOptions().dtype(at::kInt).device(device));
  kpos_ = at::arange(capacity, at::TensorOptions().dtype(at::kLong).device(device));
  kslot_ = kpos_.remainder(ring_);
  table_ = std::make_unique<RopeTable>(Rope(cfg, device).inv_freq(), capacity, dtype);
  prefill_ = std::make_unique<QuantCache>(cfg, opts_, batch, dtype, device);
}

void StaticQuantCache::encode(const at::Tensor& rows, at::Tensor* codes, at::Tensor* scale,
                              at::Tensor* zero) const {
  if (opts_.bits == 16) {  // QuantRows' 16-bit storage
    *codes = rows.to(tail_dtype_);
    *scale = at::Tensor();
    *zero = at::Tensor();
    return;
  }
  QuantGroups q = quantize_groups(rows, opts_.bits, opts_.group);
  *codes = q.codes;
  *scale = q.scale;
  *zero = q.zero;
}

at::Tensor StaticQuantCache::decode(const at::Tensor& codes, const at::Tensor& scale,
                                    const at::Tensor& zero, int64_t width) const {
  if (opts_.bits == 16) return codes.to(dtype_);
  QuantGroups q;
  q.codes = codes;
  q.scale = scale;
  q.zero = zero;
  return dequantize_groups(q, opts_.bits, opts_.group, width, dtype_);
}

void StaticQuantCache::store_block(Layer& L, const at::Tensor& k_rot16, const at::Tensor& v16,
                                   int64_t pos0) {
  const int64_t G = opts_.group, R = opts_.residual, d = cfg_.head_dim, Hkv = cfg_.num_kv_heads;
  const int64_t T = k_rot16.size(2), S = pos0 + T;
  auto kq = [&](int64_t n) { return std::max<int64_t>(0, n - R) / G * G; };
  auto vq = [&](int64_t n) { return std::max<int64_t>(0, n - R); };
  auto lopt = at::TensorOptions().dtype(at::kLong).device(device_);
  auto ring_rows = [&](const at::Tensor& ring, int64_t from) {  // positions [from, pos0)
    return ring.index_select(2, at::arange(from, pos0, lopt).remainder(ring_));
  };
  at::Tensor c, s, z;
  const int64_t kq0 = kq(pos0), kq1 = kq(S), vq0 = vq(pos0), vq1 = vq(S);
  if (kq1 > kq0) {
    // Columns [kq0, S) as QuantCache forms them: the old exact rows, then the block.
    const at::Tensor cols = at::cat({ring_rows(L.key_ring, kq0), k_rot16}, 2).to(dtype_);
    const int64_t nb = (kq1 - kq0) / G;  // [B,Hkv,nb*G,d] -> [B,Hkv,nb,d,G] -> [B,Hkv,nb,d*G]
    encode(cols.narrow(2, 0, kq1 - kq0).reshape({batch_, Hkv, nb, G, d}).transpose(3, 4).reshape(
               {batch_, Hkv, nb, d * G}),
           &c, &s, &z);
    L.key_codes.narrow(2, kq0 / G, nb).copy_(c);
    if (s.defined()) L.key_scale.narrow(2, kq0 / G, nb).copy_(s);
    if (z.defined()) L.key_zero.narrow(2, kq0 / G, nb).copy_(z);
  }
  if (vq1 > vq0) {
    const at::Tensor cols = at::cat({ring_rows(L.val_ring, vq0), v16}, 2).to(dtype_);
    encode(cols.narrow(2, 0, vq1 - vq0), &c, &s, &z);
    L.val_codes.narrow(2, vq0, vq1 - vq0).copy_(c);
    if (s.defined()) L.val_scale.narrow(2, vq0, vq1 - vq0).copy_(s);
    if (z.defined()) L.val_zero.narrow(2, vq0, vq1 - vq0).copy_(z);
  }
  // The newest rows into the ring (at most W, so their slots are distinct).
  const int64_t first = std::max(pos0, S - ring_);
  const at::Tensor slots = at::arange(first, S, lopt).remainder(ring_);
  L.key_ring.index_copy_(2, slots, k_rot16.narrow(2, first - pos0, S - first));
  L.val_ring.index_copy_(2, slots, v16.narrow(2, first - pos0, S - first));
}

at::Tensor StaticQuantCache::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                    const at::Tensor& v, const Rope& rope, const at::Tensor& w_o) {
  KVSVD_CHECK(layer >= 0 && layer < cfg_.num_layers, "quant static cache: layer ", layer,
              " out of range");
  const int64_t T = q.size(2);
  KVSVD_CHECK(len_ + T <= capacity_, "quant static cache: ", len_, " + ", T,
              " tokens exceed its capacity of ", capacity_);
  if (!prefill_) {
    KVSVD_CHECK(T == 1, "quant static cache: a block of ", T,
                " tokens after decode steps (prefill comes first)");
    return decode_step(layer, q.select(2, 0), k.select(2, 0), v.select(2, 0), w_o).unsqueeze(1);
  }
  const at::Tensor out = prefill_->attend(layer, q, k, v, rope, w_o);  // [B, T, hidden]
  store_block(layers_[layer], rope.apply(k.to(dtype_), len_).to(tail_dtype_),
              v.to(dtype_).to(tail_dtype_), len_);
  return out;
}

at::Tensor StaticQuantCache::decode_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                         const at::Tensor& v, const at::Tensor& w_o) {
  prefill_.reset();  // from here on the static layout holds everything
  const int64_t B = q.size(0), Hq = cfg_.num_heads, Hkv = cfg_.num_kv_heads, d = cfg_.head_dim;
  const int64_t G = opts_.group, R = opts_.residual, W = ring_, Gq = Hq / Hkv;
  KVSVD_CHECK(B == batch_ && k.dim() == 3 && k.size(0) == B && k.size(1) == Hkv,
              "quant static cache: step of q ", q.sizes(), ", k ", k.sizes(), " for a batch of ",
              batch_);
  Layer& L = layers_[layer];
  const at::Tensor p = pos_.to(at::kLong);  // [B]
  // The token into the ring, rounded to 16 bits as QuantCache's tails are.
  const at::Tensor slot = p.remainder(W).view({B, 1, 1, 1}).expand({B, Hkv, 1, d});
  L.key_ring.scatter_(2, slot, rope_rows(k.to(dtype_), *table_, pos_).to(tail_dtype_).unsqueeze(2));
  L.val_ring.scatter_(2, slot, v.to(dtype_).to(tail_dtype_).unsqueeze(2));

  const at::Tensor S = p + 1;
  const at::Tensor kq = at::div((S - R).clamp_min(0), G, "floor") * G;  // [B] quantized keys
  const at::Tensor vq = (S - R).clamp_min(0);                            // [B] quantized values
  auto put = [&](at::Tensor& codes, at::Tensor& scale, at::Tensor& zero, const at::Tensor& at_row,
                 const at::Tensor& rows) {  // rows [B, Hkv, 1, width] encoded into row at_row [B]
    at::Tensor c, s, z;
    encode(rows, &c, &s, &z);
    const at::Tensor idx = at_row.view({B, 1, 1, 1});
    codes.scatter_(2, idx.expand({B, Hkv, 1, c.size(3)}), c);
    if (s.defined()) scale.scatter_(2, idx.expand({B, Hkv, 1, s.size(3)}), s);
    if (z.defined()) zero.scatter_(2, idx.expand({B, Hkv, 1, z.size(3)}), z);
  };
  {  // The newest complete key block, re-quantized (a spare block when there is none yet).
    const at::Tensor blk = at::div(kq, G, "floor") - 1;
    const at::Tensor rows_at = (kq - G).view({B, 1}) + at::arange(G, p.options());  // [B, G]
    const at::Tensor idx = rows_at.clamp_min(0).remainder(W).view({B, 1, G, 1}).expand(
        {B, Hkv, G, d});
    const at::Tensor rows = L.key_ring.gather(2, idx).to(dtype_).transpose(2, 3).reshape(
        {B, Hkv, 1, d * G});  // [B,Hkv,G,d] -> [B,Hkv,d,G] -> one block row
    put(L.key_codes, L.key_scale, L.key_zero, at::where(blk >= 0, blk, blocks_ + 0 * blk), rows);
  }
  {  // The value row leaving the window this step (a spare row when none does).
    const at::Tensor j = p - R;
    const at::Tensor idx = j.clamp_min(0).remainder(W).view({B, 1, 1, 1}).expand({B, Hkv, 1, d});
    put(L.val_codes, L.val_scale, L.val_zero, at::where(j >= 0, j, capacity_ + 0 * j),
        L.val_ring.gather(2, idx).to(dtype_));
  }

  // Keys and values over the capacity: codes below the quantized counts, ring rows above.
  auto scale_of = [](const at::Tensor& t, int64_t rows) {
    return t.defined() ? t.narrow(2, 0, rows) : t;
  };
  const at::Tensor kdeq =
      decode(L.key_codes.narrow(2, 0, blocks_), scale_of(L.key_scale, blocks_),
             scale_of(L.key_zero, blocks_), d * G)
          .view({B, Hkv, blocks_, d, G})
          .transpose(3, 4)
          .reshape({B, Hkv, blocks_ * G, d})
          .narrow(2, 0, capacity_);
  const at::Tensor vdeq = decode(L.val_codes.narrow(2, 0, capacity_),
                                 scale_of(L.val_scale, capacity_), scale_of(L.val_zero, capacity_), d);
  const at::Tensor kpos = kpos_.view({1, 1, capacity_, 1});
  const at::Tensor keys = at::where(kpos < kq.view({B, 1, 1, 1}), kdeq,
                                    L.key_ring.index_select(2, kslot_).to(dtype_));  // [B,Hkv,cap,d]
  const at::Tensor vals = at::where(kpos < vq.view({B, 1, 1, 1}), vdeq,
                                    L.val_ring.index_select(2, kslot_).to(dtype_));

  const at::Tensor qr = rope_rows(q.to(dtype_), *table_, pos_).reshape({B, Hkv, Gq, 1, d});
  at::Tensor s = at::matmul(qr, keys.unsqueeze(2).transpose(3, 4));  // [B,Hkv,Gq,1,cap]
  s = (s * (1.0 / std::sqrt(static_cast<double>(d))))
          .masked_fill(kpos_.view({1, 1, 1, 1, capacity_}) > p.view({B, 1, 1, 1, 1}),
                       -std::numeric_limits<double>::infinity());
  const at::Tensor probs = at::softmax(s, -1, at::kFloat).to(dtype_);
  const at::Tensor out = at::matmul(probs, vals.unsqueeze(2)).reshape({B, Hq * d});
  return at::linear(out, w_o);  // [B, hidden]
}

void StaticQuantCache::advance(int64_t tokens) {
  KVSVD_CHECK(tokens >= 0, "quant static cache: advance by ", tokens);
  if (prefill_) prefill_->advance(tokens);
  len_ += tokens;
  pos_.add_(tokens);
}

std::vector<int64_t> StaticQuantCache::layer_bytes() const {
  std::vector<int64_t> out;
  for (const Layer& L : layers_)
    out.push_back(storage_bytes(L.key_codes) + storage_bytes(L.key_scale) +
                  storage_bytes(L.key_zero) + storage_bytes(L.val_codes) +
                  storage_bytes(L.val_scale) + storage_bytes(L.val_zero) +
                  storage_bytes(L.key_ring) + storage_bytes(L.val_ring));
  return out;
}

void StaticQuantCache::reset() {
  len_ = 0;
  pos_.zero_();
  prefill_ = std::make_unique<QuantCache>(cfg_, opts_, batch_, dtype_, device_);
}

void StaticQuantCache::set_host_length(int64_t n) {
  KVSVD_CHECK(n >= 0 && n <= capacity_, "quant static cache: length ", n, " outside 0..",
              capacity_);
  len_ = n;
  prefill_.reset();  // graph replays never reach decode_step's host side, which drops it too
}

}  // namespace kvsvd
