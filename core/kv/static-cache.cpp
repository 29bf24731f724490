#include "core/kv/static-cache.h"

#include <cmath>
#include <limits>

#include "core/kv/full-cache.h"
#include "core/util/error.h"

namespace kvsvd {

StaticFullCache::StaticFullCache(const LlamaConfig& cfg, int64_t batch, int64_t capacity,
                                 at::ScalarType dtype, at::Device device)
    : cfg_(cfg), capacity_(capacity) {
  KVSVD_CHECK(batch > 0 && capacity > 0, "static cache: batch and capacity must be > 0, got ",
              batch, " and ", capacity);
  auto opts = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    // Zeros, not empty: masked slots still enter the matmuls, and NaN garbage times a zero
    // weight would be NaN.
    k_.push_back(at::zeros({batch, cfg.num_kv_heads, capacity, cfg.head_dim}, opts));
    v_.push_back(at::zeros({batch, cfg.num_kv_heads, capacity, cfg.head_dim}, opts));
  }
  auto lopt = at::TensorOptions().dtype(at::kLong).device(device);
  pos_ = at::zeros({1}, lopt);
  slots_ = at::arange(0, capacity, lopt);
}

at::Tensor StaticFullCache::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                   const at::Tensor& v, const Rope& rope, const at::Tensor& w_o) {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(k_.size()), "static cache: layer ",
              layer, " out of range");
  at::Tensor& kc = k_[layer];  // [B, Hkv, capacity, d]
  at::Tensor& vc = v_[layer];
  const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), d = q.size(3);
  const int64_t Hkv = kc.size(1), G = Hq / Hkv;
  KVSVD_CHECK(k.dim() == 4 && k.size(0) == B && k.size(1) == Hkv && k.size(3) == d &&
                  v.sizes() == k.sizes(),
              "static cache: layer ", layer, " got k ", k.sizes(), ", v ", v.sizes());
  KVSVD_CHECK(len_ + T <= capacity_, "static cache: ", len_, " + ", T,
              " tokens exceed its capacity of ", capacity_);
  at::Tensor out;  // [B, Hq, T, d]
  if (T > 1) {
    at::Tensor qr = rope.apply(q, len_).to(kc.scalar_type());
    kc.narrow(2, len_, T).copy_(rope.apply(k, len_));
    vc.narrow(2, len_, T).copy_(v);
    out = causal_gqa_attention(qr, kc.narrow(2, 0, len_ + T), vc.narrow(2, 0, len_ + T));
  } else {
    // Position and slot from the device: nothing here depends on the host's length.
    const at::Tensor qr = rope.apply_at(q, pos_).to(kc.scalar_type());  // [B, Hq, 1, d]
    kc.index_copy_(2, pos_, rope.apply_at(k, pos_).to(kc.scalar_type()));
    vc.index_copy_(2, pos_, v.to(vc.scalar_type()));
    const double scale = std::pow(static_cast<double>(d), -0.5);
    const at::Tensor qg = qr.reshape({B, Hkv, G, d});                     // query head kv*G + j
    at::Tensor scores = at::matmul(qg, kc.transpose(2, 3)) * scale;        // [B, Hkv, G, cap]
    scores = scores.masked_fill(slots_ > pos_, -std::numeric_limits<double>::infinity());
    const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(vc.scalar_type());
    out = at::matmul(probs, vc).view({B, Hq, 1, d});                       // [B, Hq, 1, d]
  }
  out = out.transpose(1, 2).reshape({B, T, Hq * d});
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
