#include "core/kv/head-rank-cache.h"

#include <cmath>
#include <limits>

#include "core/util/error.h"

namespace kvsvd {

HeadRanks profile_head_ranks(const KvProfile& p) {
  HeadRanks r;
  for (const auto& l : p.layers) {
    r.key.push_back(l.key_head_rank);
    r.value.push_back(l.value_head_rank);
  }
  return r;
}

HeadRankCache::HeadRankCache(const KvProfile& profile, const HeadRanks& ranks,
                             const LlamaConfig& cfg, QuantSpec quant, int64_t batch,
                             at::ScalarType dtype, at::Device device)
    : cfg_(cfg), batch_(batch), dtype_(dtype) {
  KVSVD_CHECK(batch > 0, "svd-heads cache: batch must be > 0, got ", batch);
  check_quant_spec(quant, /*allow_none=*/true);
  const int64_t L = cfg.num_layers, Hkv = cfg.num_kv_heads, Hq = cfg.num_heads;
  const int64_t G = Hq / Hkv;
  KVSVD_CHECK(static_cast<int64_t>(profile.layers.size()) == L &&
                  static_cast<int64_t>(ranks.key.size()) == L &&
                  static_cast<int64_t>(ranks.value.size()) == L,
              "svd-heads cache: profile / ranks cover ", profile.layers.size(), " / ",
              ranks.key.size(), " layers, the model has ", L);
  for (int64_t l = 0; l < L; ++l) {
    const KvLayerProfile& p = profile.layers[l];
    KVSVD_CHECK(p.fused_output.defined() && p.fused_output.size(0) == Hq &&
                    p.fused_output.size(2) == profile.value_rank,
                "svd-heads cache: layer ", l, " has no fused output [Hq, hidden, value_rank]");
    KVSVD_CHECK(static_cast<int64_t>(ranks.key[l].size()) == Hkv &&
                    static_cast<int64_t>(ranks.value[l].size()) == Hkv,
                "svd-heads cache: layer ", l, " ranks for ", ranks.key[l].size(), " heads, model has ",
                Hkv);
    Layer layer;
    std::vector<at::Tensor> fused;
    for (int64_t h = 0; h < Hkv; ++h) {
      Head hd;
      hd.rk = ranks.key[l][h];
      hd.rv = ranks.value[l][h];
      KVSVD_CHECK(hd.rk >= 1 && hd.rk <= profile.key_rank && hd.rv >= 1 &&
                      hd.rv <= profile.value_rank,
                  "svd-heads cache: layer ", l, " head ", h, " ranks k", hd.rk, " v", hd.rv,
                  " outside the store's [1, ", profile.key_rank, "] / [1, ", profile.value_rank, "]");
      hd.key_basis = p.key_basis[h].narrow(1, 0, hd.rk).to(device, dtype).contiguous();
      hd.value_basis = p.value_basis[h].narrow(1, 0, hd.rv).to(device, dtype).contiguous();
      hd.keys = QuantRows(quant, dtype);
      hd.values = QuantRows(quant, dtype);
      layer.heads.push_back(std::move(hd));
    }
    for (int64_t i = 0; i < Hq; ++i)  // [hidden, rv(g(i))]
      fused.push_back(p.fused_output[i].narrow(1, 0, layer.heads[i / G].rv));
    layer.fused = at::cat(fused, 1).to(device, dtype).contiguous();
    layers_.push_back(std::move(layer));
  }
}

at::Tensor HeadRankCache::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                 const at::Tensor& v, const Rope& rope, const at::Tensor&) {
  const int64_t Hkv = cfg_.num_kv_heads, Hq = cfg_.num_heads, d = cfg_.head_dim;
  const int64_t G = Hq / Hkv, T = q.size(2), pos0 = len_;
  KVSVD_CHECK(q.dim() == 4 && q.size(0) == batch_ && q.size(1) == Hq && q.size(3) == d &&
                  k.sizes() == v.sizes() && k.size(1) == Hkv && k.size(2) == T,
              "svd-heads cache: layer ", layer, " got q ", q.sizes(), ", k ", k.sizes());
  Layer& L = layers_[layer];
  const at::Tensor qr = rope.apply(q.to(dtype_), pos0);  // [B,Hq,T,d]
  const int64_t S = pos0 + T;
  // Causal mask: query t (position pos0+t) sees cached positions <= pos0+t.
  const at::Tensor qpos = at::arange(pos0, S, at::TensorOptions().dtype(at::kLong).device(q.device()));
  const at::Tensor kpos = at::arange(0, S, qpos.options());
  const at::Tensor masked = kpos.unsqueeze(0) > qpos.unsqueeze(1);  // [T, S]
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  std::vector<at::Tensor> outs;  // per query head [B, T, rv]
  for (int64_t h = 0; h < Hkv; ++h) {
    Head& hd = L.heads[h];
    const at::Tensor kh = k.narrow(1, h, 1).to(dtype_);  // [B,1,T,d]
    const at::Tensor vh = v.narrow(1, h, 1).to(dtype_);
    hd.keys.append(at::matmul(kh, hd.key_basis));      // [B,1,T,rk]
    hd.values.append(at::matmul(vh, hd.value_basis));  // [B,1,T,rv]
    const at::Tensor khat = rope.apply(at::matmul(hd.keys.read(), hd.key_basis.t()), 0);  // [B,1,S,d]
    const at::Tensor qg = qr.narrow(1, h * G, G);                                        // [B,G,T,d]
    at::Tensor scores = at::matmul(qg, khat.transpose(2, 3)) * scale;                    // [B,G,T,S]
    scores = scores.masked_fill(masked, -std::numeric_limits<double>::infinity());
    const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(dtype_);
    const at::Tensor o = at::matmul(probs, hd.values.read());  // [B,G,T,rv]
    for (int64_t j = 0; j < G; ++j) outs.push_back(o.select(1, j));
  }
  return at::linear(at::cat(outs, -1), L.fused);  // [B,T,Σ rv] x [hidden, Σ rv]ᵀ
}

std::vector<int64_t> HeadRankCache::layer_bytes() const {
  std::vector<int64_t> out;
  for (const auto& L : layers_) {
    int64_t b = 0;
    for (const auto& h : L.heads) b += h.keys.bytes() + h.values.bytes();
    out.push_back(b);
  }
  return out;
}

void HeadRankCache::reset() {
  for (auto& L : layers_)
    for (auto& h : L.heads) {
      h.keys.clear();
      h.values.clear();
    }
  len_ = 0;
}

}  // namespace kvsvd
