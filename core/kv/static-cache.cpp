#include "core/kv/static-cache.h"

#include <cmath>

#include "core/kernels/rope-append.h"
#include "core/kernels/skinny-gemm.h"
#include "core/kv/full-cache.h"
#include "core/util/error.h"

namespace kvsvd {

StaticFullCache::StaticFullCache(const LlamaConfig& cfg, int64_t batch, int64_t capacity,
                                 at::ScalarType dtype, at::Device device)
    : cfg_(cfg), batch_(batch), capacity_(capacity) {
  KVSVD_CHECK(batch > 0 && capacity > 0, "static cache: batch and capacity must be > 0, got ",
              batch, " and ", capacity);
  auto opts = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    // Zeros, not empty: the decode kernel reads only filled rows, but the CPU reference's masked
    // matmul still multiplies the others.
    k_.push_back(at::zeros({batch, cfg.num_kv_heads, capacity, cfg.head_dim}, opts));
    v_.push_back(at::zeros({batch, cfg.num_kv_heads, capacity, cfg.head_dim}, opts));
  }
  auto iopt = at::TensorOptions().dtype(at::kInt).device(device);
  pos_ = at::zeros({batch}, iopt);
  lens_ = at::ones({batch}, iopt);
  table_ = std::make_unique<RopeTable>(Rope(cfg, device).inv_freq(), capacity, dtype);
  const int64_t splits = decode_attention_splits(
      batch, cfg.num_kv_heads, cfg.num_heads / cfg.num_kv_heads, cfg.head_dim, capacity, dtype, device);
  ws_ = make_decode_attention_workspace(batch, cfg.num_heads, cfg.head_dim, splits, device);
}

at::Tensor StaticFullCache::attend_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v) {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(k_.size()), "static cache: layer ",
              layer, " out of range");
  at::Tensor& kc = k_[layer];  // [B, Hkv, capacity, d]
  at::Tensor& vc = v_[layer];
  const int64_t B = q.size(0), Hq = q.size(1), d = q.size(2);
  KVSVD_CHECK(B == batch_ && k.dim() == 3 && k.size(1) == kc.size(1) && k.size(2) == d,
              "static cache: step of q ", q.sizes(), ", k ", k.sizes(), " for a batch of ",
              batch_);
  if (layer == 0) at::add_out(lens_, pos_, 1);
  const at::Tensor qr = rope_append(q.to(kc.scalar_type()), k.to(kc.scalar_type()),
                                    v.to(vc.scalar_type()), *table_, pos_, kc, vc);  // [B, Hq, d]
  const double scale = std::pow(static_cast<double>(d), -0.5);
  return decode_attention(qr, kc, vc, lens_, scale, ws_).view({B, Hq * d});
}

at::Tensor StaticFullCache::decode_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                        const at::Tensor& v, const at::Tensor& w_o) {
  return decode_linear(attend_step(layer, q, k, v), w_o);  // [B, hidden]
}

at::Tensor StaticFullCache::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                   const at::Tensor& v, const Rope& rope, const at::Tensor& w_o) {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(k_.size()), "static cache: layer ",
              layer, " out of range");
  at::Tensor& kc = k_[layer];  // [B, Hkv, capacity, d]
  at::Tensor& vc = v_[layer];
  const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), d = q.size(3);
  const int64_t Hkv = kc.size(1);
  KVSVD_CHECK(k.dim() == 4 && k.size(0) == B && k.size(1) == Hkv && k.size(3) == d &&
                  v.sizes() == k.sizes(),
              "static cache: layer ", layer, " got k ", k.sizes(), ", v ", v.sizes());
  KVSVD_CHECK(len_ + T <= capacity_, "static cache: ", len_, " + ", T,
              " tokens exceed its capacity of ", capacity_);
  at::Tensor out;  // [B, T, Hq*d]
  if (T > 1) {
    at::Tensor qr = rope.apply(q, len_).to(kc.scalar_type());
    kc.narrow(2, len_, T).copy_(rope.apply(k, len_));
    vc.narrow(2, len_, T).copy_(v);
    out = causal_gqa_attention(qr, kc.narrow(2, 0, len_ + T), vc.narrow(2, 0, len_ + T));
    out = out.transpose(1, 2).reshape({B, T, Hq * d});
  } else {
    // Position and length from the device: nothing here depends on the host's length.
    out = attend_step(layer, q.select(2, 0), k.select(2, 0), v.select(2, 0)).view({B, 1, Hq * d});
  }
  return at::linear(out, w_o);  // [B, T, hidden]
}

void StaticFullCache::advance(int64_t tokens) {
  KVSVD_CHECK(tokens >= 0, "static cache: advance by ", tokens);
  len_ += tokens;
  pos_.add_(tokens);
}

std::vector<int64_t> StaticFullCache::layer_bytes() const {
  std::vector<int64_t> out;
  for (size_t l = 0; l < k_.size(); ++l) out.push_back(storage_bytes(k_[l]) + storage_bytes(v_[l]));
  return out;
}

void StaticFullCache::reset() {
  len_ = 0;
  pos_.zero_();
}

void StaticFullCache::set_host_length(int64_t n) {
  KVSVD_CHECK(n >= 0 && n <= capacity_, "static cache: length ", n, " outside 0..", capacity_);
  len_ = n;
}

}  // namespace kvsvd
