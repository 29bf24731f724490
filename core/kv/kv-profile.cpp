#include "core/kv/kv-profile.h"

#include "core/compress/layer-decompose.h"
#include "core/util/error.h"

namespace kvsvd {

KvProfile make_kv_profile(const std::vector<LayerProfile>& layers, const LlamaConfig& cfg,
                          at::ScalarType dtype, at::Device device) {
  KVSVD_CHECK(static_cast<int64_t>(layers.size()) == cfg.num_layers, "profile has ",
              layers.size(), " layers but the model has ", cfg.num_layers);
  KvProfile out;
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  for (size_t l = 0; l < layers.size(); ++l) {
    const LayerProfile& p = layers[l];
    KVSVD_CHECK(p.layer == static_cast<int64_t>(l), "profile layer ", l, " is labelled layer ",
                p.layer);
    KVSVD_CHECK(p.n_kv == cfg.num_kv_heads && p.head_dim == cfg.head_dim, "profile layer ", l,
                ": n_kv=", p.n_kv, ", head_dim=", p.head_dim, " but the model has ",
                cfg.num_kv_heads, " KV heads of head_dim ", cfg.head_dim);
    KVSVD_CHECK(p.key_rank >= 1 && p.key_rank <= p.head_dim && p.value_rank >= 1 &&
                    p.value_rank <= p.head_dim,
                "profile layer ", l, ": key_rank ", p.key_rank, " / value_rank ", p.value_rank,
                " outside [1, head_dim=", p.head_dim, "]");
    KVSVD_CHECK(static_cast<int64_t>(p.key_basis.size()) == p.n_kv * p.head_dim * p.key_rank,
                "profile layer ", l, ": key_basis has ", p.key_basis.size(),
                " values, expected [n_kv, head_dim, key_rank] = ", p.n_kv * p.head_dim * p.key_rank);
    KVSVD_CHECK(static_cast<int64_t>(p.value_basis.size()) == p.n_kv * p.head_dim * p.value_rank,
                "profile layer ", l, ": value_basis has ", p.value_basis.size(),
                " values, expected [n_kv, head_dim, value_rank] = ",
                p.n_kv * p.head_dim * p.value_rank);
    if (l == 0) {
      out.key_rank = p.key_rank;
      out.value_rank = p.value_rank;
    }
    // One rank for the whole store keeps every layer's cache tensors the same shape.
    KVSVD_CHECK(p.key_rank == out.key_rank && p.value_rank == out.value_rank, "profile layer ", l,
                ": key_rank/value_rank ", p.key_rank, "/", p.value_rank, " differ from layer 0's ",
                out.key_rank, "/", out.value_rank);
    KvLayerProfile t;
    t.key_basis = key_basis_tensor(p).to(device, dtype).contiguous();
    t.value_basis = value_basis_tensor(p).to(device, dtype).contiguous();
    if (!p.fused_output.empty()) {
      const int64_t want = cfg.num_heads * cfg.hidden_size * p.value_rank;
      KVSVD_CHECK(p.hidden == cfg.hidden_size && static_cast<int64_t>(p.fused_output.size()) == want,
                  "profile layer ", l, ": fused_output has ", p.fused_output.size(),
                  " values (hidden ", p.hidden, "), expected [n_q, hidden, value_rank] = ", want);
      t.fused_output = at::from_blob(const_cast<float*>(p.fused_output.data()),
                                     {cfg.num_heads, cfg.hidden_size, p.value_rank}, opts)
                           .to(device, dtype)
                           .clone();  // own the memory: from_blob borrows the vector's
    }
    // Per-head ranks (every store has them; fixed-rank stores repeat the layer's rank).
    KVSVD_CHECK(static_cast<int64_t>(p.key_head_rank.size()) == p.n_kv &&
                    static_cast<int64_t>(p.value_head_rank.size()) == p.n_kv,
                "profile layer ", l, ": key_head_rank / value_head_rank hold ",
                p.key_head_rank.size(), " / ", p.value_head_rank.size(), " entries, expected n_kv = ",
                p.n_kv);
    for (int64_t h = 0; h < p.n_kv; ++h) {
      KVSVD_CHECK(p.key_head_rank[h] >= 1 && p.key_head_rank[h] <= p.key_rank &&
                      p.value_head_rank[h] >= 1 && p.value_head_rank[h] <= p.value_rank,
                  "profile layer ", l, " head ", h, ": ranks ", p.key_head_rank[h], " / ",
                  p.value_head_rank[h], " outside [1, ", p.key_rank, "] / [1, ", p.value_rank, "]");
      t.key_head_rank.push_back(p.key_head_rank[h]);
      t.value_head_rank.push_back(p.value_head_rank[h]);
    }
    out.layers.push_back(std::move(t));
  }
  return out;
}

}  // namespace kvsvd
