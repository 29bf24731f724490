#include "core/compress/layer-decompose.h"

#include <algorithm>
#include <cstring>

#include "core/compress/fused-output.h"
#include "core/compress/head-basis.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

void check_shape(const AttentionShape& s) {
  KVSVD_CHECK(s.num_heads >= 1 && s.num_kv_heads >= 1 && s.head_dim >= 1 && s.hidden >= 1,
              "attention shape: heads ", s.num_heads, ", kv heads ", s.num_kv_heads, ", head_dim ",
              s.head_dim, ", hidden ", s.hidden, " must all be >= 1");
  KVSVD_CHECK(s.num_heads % s.num_kv_heads == 0, "attention shape: ", s.num_heads,
              " query heads are not a multiple of ", s.num_kv_heads, " KV heads");
}

void check_tensor(const at::Tensor& t, const char* what, int64_t layer,
                  std::initializer_list<int64_t> expect) {
  KVSVD_CHECK(t.defined(), "layer ", layer, ": ", what, " is missing");
  KVSVD_CHECK(t.sizes().vec() == std::vector<int64_t>(expect), "layer ", layer, ": ", what,
              " has shape ", t.sizes(), ", expected ", at::IntArrayRef(expect));
}

// Appends the first `cols` columns of basis [d, d] (float64) as float32 rows [d, cols].
void append_columns(std::vector<float>& out, const at::Tensor& basis, int64_t cols) {
  const at::Tensor b = basis.narrow(1, 0, cols).to(at::kFloat).contiguous();
  const float* p = b.data_ptr<float>();
  out.insert(out.end(), p, p + b.numel());
}

void append_doubles(std::vector<float>& out, const std::vector<double>& v) {
  for (double x : v) out.push_back(static_cast<float>(x));
}

struct Side {  // one of K or V for every head of a layer
  std::vector<HeadBasis> heads;
  std::vector<std::vector<double>> curves;
};

Side decompose_side(const AttentionShape& s,
                    const CompressSpec& spec, const LayerInputs& in, bool keys) {
  const int64_t d = s.head_dim;
  Side side;
  if (spec.method == ProfileMethod::WeightSvd) {
    const at::Tensor& w = keys ? in.wk : in.wv;  // [Hkv*d, hidden]
    side.heads = weight_head_bases(w.reshape({s.num_kv_heads, d, w.size(1)}));
    for (const HeadBasis& hb : side.heads) side.curves.push_back(energy_curve(hb.energies));
    return side;
  }
  const int64_t G = s.num_heads / s.num_kv_heads;
  for (int64_t h = 0; h < s.num_kv_heads; ++h) {
    HeadBasis hb;
    const at::Tensor& m = keys ? in.key_moment : in.value_moment;
    const at::Tensor sigma = m[h].to(at::kDouble) / static_cast<double>(in.tokens);
    if (!keys && spec.method == ProfileMethod::OutputAware) {
      // M = Σ_i W_O,iᵀ W_O,i over the query heads i of this KV head: [d, d].
      const at::Tensor wo = in.wo.to(at::Device(at::kCPU), at::kDouble)
                                .narrow(1, h * G * d, G * d);  // [hidden, G*d]
      at::Tensor gram = at::zeros({d, d}, at::kDouble);
      for (int64_t i = 0; i < G; ++i) {
        const at::Tensor w = wo.narrow(1, i * d, d);
        gram += at::matmul(w.t(), w);
      }
      hb = weighted_head_basis(sigma, gram);
    } else {
      hb = moment_head_basis(sigma);
    }
    side.curves.push_back(energy_curve(hb.energies));
    side.heads.push_back(std::move(hb));
  }
  return side;
}

}  // namespace

CompressSpec resolve_compress_spec(const CompressSpec& spec, const AttentionShape& shape) {
  check_shape(shape);
  CompressSpec r = spec;
  KVSVD_CHECK(r.method != ProfileMethod::OutputAware || r.store_fused,
              "--method output_aware needs --store-fused: its values decode through W_O·B, which "
              "only the stored fused matrices carry");
  KVSVD_CHECK(!(r.method == ProfileMethod::WeightSvd && r.key_space == KeySpace::PostRope),
              "--key-space post_rope needs --method activation_pca: weight_svd bases come from "
              "W_K, which describes keys before RoPE");
  r.ranks = resolve_rank_spec(spec.ranks, shape.head_dim);
  return r;
}

LayerProfile decompose_layer(int64_t layer, const AttentionShape& s, const CompressSpec& spec,
                             const LayerInputs& in) {
  check_shape(s);
  const int64_t d = s.head_dim, n_kv = s.num_kv_heads;
  if (spec.method == ProfileMethod::WeightSvd) {
    check_tensor(in.wk, "k_proj weight", layer, {n_kv * d, s.hidden});
    check_tensor(in.wv, "v_proj weight", layer, {n_kv * d, s.hidden});
  } else {
    check_tensor(in.key_moment, "key moment", layer, {n_kv, d, d});
    check_tensor(in.value_moment, "value moment", layer, {n_kv, d, d});
    KVSVD_CHECK(in.tokens >= 1, "layer ", layer, ": no calibration tokens behind the moments");
  }
  if (spec.store_fused) check_tensor(in.wo, "o_proj weight", layer, {s.hidden, s.num_heads * d});
  const RankSpec& rs = spec.ranks;
  KVSVD_CHECK(rs.adaptive() || (rs.key_rank >= 1 && rs.key_rank <= d && !rs.value_ranks.empty()),
              "decompose_layer: rank spec not resolved (call resolve_compress_spec)");

  const Side ks = decompose_side(s, spec, in, true);
  const Side vs = decompose_side(s, spec, in, false);

  LayerProfile p;
  p.layer = layer;
  p.n_kv = n_kv;
  p.head_dim = d;
  // Per-head ranks: fixed, or from each head's energy curve with the floor.
  int64_t value_fixed = 0;
  for (const auto& v : rs.value_ranks) value_fixed = std::max(value_fixed, v.rank);
  for (int64_t h = 0; h < n_kv; ++h) {
    const int64_t rk = rs.adaptive() ? rank_for_energy(ks.curves[h], rs.energy_threshold,
                                                       rs.min_rank_ratio)
                                     : rs.key_rank;
    const int64_t rv = rs.adaptive() ? rank_for_energy(vs.curves[h], rs.energy_threshold,
                                                       rs.min_rank_ratio)
                                     : value_fixed;
    p.key_head_rank.push_back(static_cast<int32_t>(rk));
    p.value_head_rank.push_back(static_cast<int32_t>(rv));
  }
  p.key_rank = *std::max_element(p.key_head_rank.begin(), p.key_head_rank.end());
  p.value_rank = *std::max_element(p.value_head_rank.begin(), p.value_head_rank.end());

  for (int64_t h = 0; h < n_kv; ++h) {
    append_columns(p.key_basis, ks.heads[h].basis, p.key_rank);
    append_columns(p.value_basis, vs.heads[h].basis, p.value_rank);
    append_doubles(p.key_spectrum, std::vector<double>(
                                       ks.heads[h].spectrum.data_ptr<double>(),
                                       ks.heads[h].spectrum.data_ptr<double>() + d));
    append_doubles(p.value_spectrum, std::vector<double>(
                                         vs.heads[h].spectrum.data_ptr<double>(),
                                         vs.heads[h].spectrum.data_ptr<double>() + d));
    append_doubles(p.key_energy, ks.curves[h]);
    append_doubles(p.value_energy, vs.curves[h]);
    if (spec.method != ProfileMethod::WeightSvd) {
      p.key_error.push_back(
          static_cast<float>(tail_error(ks.heads[h].energies, p.key_head_rank[h])));
      p.value_error.push_back(
          static_cast<float>(tail_error(vs.heads[h].energies, p.value_head_rank[h])));
    }
  }

  if (spec.store_fused) {
    // Fused in float64 from the float64 bases, rounded once to float32 at the end,
    std::vector<at::Tensor> pv;
    for (int64_t h = 0; h < n_kv; ++h) {  // the decoder: B for output-aware pairs, else the basis
      const HeadBasis& hb = vs.heads[h];
      pv.push_back((hb.decode.defined() ? hb.decode : hb.basis).narrow(1, 0, p.value_rank));
    }
    const at::Tensor basis = at::stack(pv);  // [Hkv, d, r_v]
    // On W_O's device (a float64 GEMM of hidden x Hq*d by the bases: seconds on the CPU at 8B).
    const at::Tensor wo = in.wo.to(at::kDouble);
    const at::Tensor fused = fused_output(wo, basis.to(wo.device()), s.num_heads)
                                 .to(at::Device(at::kCPU), at::kFloat)
                                 .contiguous();
    p.hidden = s.hidden;
    p.fused_output.assign(fused.data_ptr<float>(), fused.data_ptr<float>() + fused.numel());
  }
  return p;
}

namespace {
at::Tensor basis_tensor(const std::vector<float>& v, int64_t n_kv, int64_t d, int64_t r,
                        const char* what, int64_t layer) {
  KVSVD_CHECK(static_cast<int64_t>(v.size()) == n_kv * d * r, "layer ", layer, ": ", what,
              " basis holds ", v.size(), " values, expected ", n_kv, "x", d, "x", r);
  at::Tensor t = at::empty({n_kv, d, r}, at::kFloat);
  if (!v.empty()) std::memcpy(t.data_ptr<float>(), v.data(), v.size() * sizeof(float));
  return t;
}
}  // namespace

at::Tensor key_basis_tensor(const LayerProfile& p) {
  return basis_tensor(p.key_basis, p.n_kv, p.head_dim, p.key_rank, "key", p.layer);
}
at::Tensor value_basis_tensor(const LayerProfile& p) {
  return basis_tensor(p.value_basis, p.n_kv, p.head_dim, p.value_rank, "value", p.layer);
}

}  // namespace kvsvd
