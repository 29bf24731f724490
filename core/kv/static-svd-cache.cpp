#include "core/kv/static-svd-cache.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/kv/full-cache.h"
#include "core/kv/rope-rows.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

// The options, once checked to store coefficients in the cache dtype.
const SvdCacheOptions& unquantized(const SvdCacheOptions& opts) {
  KVSVD_CHECK(opts.quant.bits == 0, "svd static cache: --kv-bits ", opts.quant.bits,
              " is not supported by the fixed-capacity layout (EagerStepCache runs it)");
  KVSVD_CHECK(!opts.hadamard, "svd static cache: --hadamard is not supported by the "
                              "fixed-capacity layout (EagerStepCache runs it)");
  return opts;
}

}  // namespace

StaticSvdCache::StaticSvdCache(KvProfile profile, const LlamaConfig& cfg, SvdCacheOptions opts,
                               int64_t batch, int64_t capacity, at::ScalarType dtype,
                               at::Device device, const std::vector<at::Tensor>& w_o)
    : bases_(std::move(profile), cfg, unquantized(opts), batch, dtype, device, w_o),
      cfg_(cfg),
      pre_rope_(opts.key_space == KeySpace::PreRope),
      batch_(batch),
      capacity_(capacity),
      dtype_(dtype),
      device_(device) {
  KVSVD_CHECK(capacity > 0, "svd static cache: capacity must be > 0, got ", capacity);
  key_rank_ = bases_.key_rank();
  r_top_ = bases_.top_value_rank();
  auto opt = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    // Zeros, not empty: masked rows are still multiplied (by probability 0).
    keys_.push_back(at::zeros({batch, cfg.num_kv_heads, capacity, key_rank_}, opt));
    values_.push_back(at::zeros({batch, cfg.num_kv_heads, capacity, r_top_}, opt));
  }
  rank_mask_ = at::zeros({capacity, r_top_}, opt);
  auto iopt = at::TensorOptions().dtype(at::kInt).device(device);
  pos_ = at::zeros({batch}, iopt);
  kpos_ = at::arange(capacity, iopt);
  table_ = std::make_unique<RopeTable>(Rope(cfg, device).inv_freq(), capacity, dtype);
}

at::Tensor StaticSvdCache::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                  const at::Tensor& v, const Rope& rope, const at::Tensor& w_o) {
  KVSVD_CHECK(layer >= 0 && layer < cfg_.num_layers, "svd static cache: layer ", layer,
              " out of range");
  const int64_t B = q.size(0), Hq = q.size(1), T = q.size(2), d = q.size(3);
  const int64_t Hkv = cfg_.num_kv_heads;
  KVSVD_CHECK(B == batch_ && Hq == cfg_.num_heads && d == cfg_.head_dim && k.dim() == 4 &&
                  k.size(0) == B && k.size(1) == Hkv && k.size(2) == T && k.size(3) == d &&
                  v.sizes() == k.sizes(),
              "svd static cache: layer ", layer, " got q ", q.sizes(), ", k ", k.sizes(), ", v ",
              v.sizes());
  KVSVD_CHECK(len_ + T <= capacity_, "svd static cache: ", len_, " + ", T,
              " tokens exceed its capacity of ", capacity_);
  if (len_ == 0 && layer == 0) {
    // The rank policy's prompt is the first block, as in SvdCache; every position's rank is
    // known from here on, so decode steps read it from the device.
    prompt_len_ = T;
    token_ranks_ = bases_.value_ranks_at(0, capacity_, prompt_len_);
    std::vector<float> mask(static_cast<size_t>(capacity_ * r_top_), 0.f);
    for (int64_t p = 0; p < capacity_; ++p)
      std::fill_n(mask.begin() + p * r_top_, token_ranks_[p], 1.f);
    rank_mask_.copy_(at::from_blob(mask.data(), {capacity_, r_top_}, at::kFloat));
  }
  if (T == 1)
    return decode_step(layer, q.select(2, 0), k.select(2, 0), v.select(2, 0), w_o).unsqueeze(1);

  const int64_t pos0 = len_, S = len_ + T;
  const at::Tensor qd = q.to(dtype_), kd = k.to(dtype_), vd = v.to(dtype_);
  const at::Tensor& P_K = bases_.key_basis(layer);  // [Hkv, d, r_k]
  keys_[layer].narrow(2, pos0, T).copy_(at::matmul(pre_rope_ ? kd : rope.apply(kd, pos0), P_K));
  values_[layer].narrow(2, pos0, T).copy_(at::matmul(vd, bases_.value_basis(layer)) *
                                          rank_mask_.narrow(0, pos0, T));
  const at::Tensor qr = rope.apply(qd, pos0);  // [B, Hq, T, d]
  // SvdCache's prefill path where SDPA is available (LibTorch >= 2.5): the same inputs.
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const at::Tensor kc = keys_[layer].narrow(2, 0, S), vc = values_[layer].narrow(2, 0, S);
  const at::Tensor qt = pre_rope_ ? qr
                                  : at::matmul(qr.reshape({B, Hkv, (Hq / Hkv) * T, d}), P_K)
                                        .reshape({B, Hq, T, key_rank_});
  const at::Tensor keys =
      pre_rope_ ? rope.apply(at::matmul(kc, P_K.transpose(1, 2)), 0) : kc;  // [B,Hkv,S,d|r_k]
  const at::Tensor out = sdpa_causal_attention(qt, keys, vc, scale);  // [B,Hq,T,r_top]
  if (out.defined())
    return at::linear(out.transpose(1, 2).reshape({B, T, Hq * r_top_}),
                      bases_.fused_output(layer, w_o));
  auto lopt = at::TensorOptions().dtype(at::kLong).device(device_);
  const at::Tensor hidden = at::arange(0, S, lopt).unsqueeze(0) >
                            at::arange(pos0, S, lopt).unsqueeze(1);  // [T, S]
  return attend_rows(layer, qr, S, hidden, w_o);
}

at::Tensor StaticSvdCache::decode_step(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                       const at::Tensor& v, const at::Tensor& w_o) {
  const int64_t B = q.size(0), Hkv = cfg_.num_kv_heads;
  KVSVD_CHECK(B == batch_ && k.dim() == 3 && k.size(0) == B && k.size(1) == Hkv,
              "svd static cache: step of q ", q.sizes(), ", k ", k.sizes(), " for a batch of ",
              batch_);
  const at::Tensor qd = q.to(dtype_), kd = k.to(dtype_), vd = v.to(dtype_);
  const at::Tensor& P_K = bases_.key_basis(layer);
  // Each sequence's row at its device position, by scatter: no host-side index.
  const at::Tensor row = pos_.to(at::kLong).view({B, 1, 1, 1});
  const at::Tensor ck = at::matmul((pre_rope_ ? kd : rope_rows(kd, *table_, pos_)).unsqueeze(2),
                                   P_K);  // [B, Hkv, 1, r_k]
  keys_[layer].scatter_(2, row.expand({B, Hkv, 1, key_rank_}), ck);
  const at::Tensor cv = at::matmul(vd.unsqueeze(2), bases_.value_basis(layer)) *
                        rank_mask_.index_select(0, pos_).view({B, 1, 1, r_top_});
  values_[layer].scatter_(2, row.expand({B, Hkv, 1, r_top_}), cv);
  const at::Tensor qr = rope_rows(qd, *table_, pos_).unsqueeze(2);     // [B, Hq, 1, d]
  const at::Tensor hidden = (kpos_.unsqueeze(0) > pos_.unsqueeze(1))     // [B, cap]
                                .view({B, 1, 1, 1, capacity_});
  return attend_rows(layer, qr, capacity_, hidden, w_o).select(1, 0);  // [B, hidden]
}

at::Tensor StaticSvdCache::attend_rows(int64_t layer, const at::Tensor& qr, int64_t S,
                                       const at::Tensor& hidden, const at::Tensor& w_o) {
  const int64_t B = qr.size(0), Hq = qr.size(1), T = qr.size(2), d = qr.size(3);
  const int64_t Hkv = cfg_.num_kv_heads, G = Hq / Hkv;
  const at::Tensor& P_K = bases_.key_basis(layer);
  const at::Tensor kc = keys_[layer].narrow(2, 0, S);    // [B, Hkv, S, r_k]
  const at::Tensor vc = values_[layer].narrow(2, 0, S);  // [B, Hkv, S, r_top]
  const at::Tensor q5 = qr.reshape({B, Hkv, G, T, d});
  at::Tensor lhs, rhs;  // lhs [B,Hkv,G,T,x], rhs [B,Hkv,1,x,S]
  if (pre_rope_) {
    // k̂ = c_k P_Kᵀ, rotated at 0 .. S-1 from the table: keys rebuilt, values never are.
    const at::Tensor kr = at::matmul(kc, P_K.transpose(1, 2));  // [B, Hkv, S, d]
    const at::Tensor khat = kr * table_->cos().narrow(0, 0, S) +
                            rotate_half_rows(kr) * table_->sin().narrow(0, 0, S);
    lhs = q5;
    rhs = khat.unsqueeze(2).transpose(3, 4);
  } else {
    lhs = at::matmul(q5, P_K.unsqueeze(1));  // q̃ = P_Kᵀ rope(q): [B, Hkv, G, T, r_k]
    rhs = kc.unsqueeze(2).transpose(3, 4);
  }
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  const at::Tensor scores = (at::matmul(lhs, rhs) * scale)
                                .masked_fill(hidden, -std::numeric_limits<double>::infinity());
  const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(dtype_);  // [B,Hkv,G,T,S]
  const at::Tensor acc = at::matmul(probs, vc.unsqueeze(2));               // [B,Hkv,G,T,r_top]
  const at::Tensor flat = acc.reshape({B, Hq, T, r_top_}).transpose(1, 2).reshape(
      {B, T, Hq * r_top_});
  return at::linear(flat, bases_.fused_output(layer, w_o));  // [B, T, hidden]
}

void StaticSvdCache::advance(int64_t tokens) {
  KVSVD_CHECK(tokens >= 0, "svd static cache: advance by ", tokens);
  len_ += tokens;
  pos_.add_(tokens);
}

std::vector<int64_t> StaticSvdCache::layer_bytes() const {
  std::vector<int64_t> out;
  for (size_t l = 0; l < keys_.size(); ++l)
    out.push_back(storage_bytes(keys_[l]) + storage_bytes(values_[l]));
  return out;
}

void StaticSvdCache::reset() {
  len_ = 0;
  prompt_len_ = 0;
  pos_.zero_();
}

void StaticSvdCache::set_host_length(int64_t n) {
  KVSVD_CHECK(n >= 0 && n <= capacity_, "svd static cache: length ", n, " outside 0..",
              capacity_);
  len_ = n;
}

}  // namespace kvsvd
