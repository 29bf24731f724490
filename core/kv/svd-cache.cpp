#include "core/kv/svd-cache.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/compress/fused-output.h"
#include "core/kv/full-cache.h"
#include "core/kv/quant-rotation.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

// Above this many score elements per query block the attention splits the queries, so a long
// prefill does not hold a [B, Hq, T, S] float32 matrix at once.
constexpr int64_t kMaxScoreElements = int64_t(1) << 26;

at::Tensor exact_copy(const at::Tensor& t, int64_t dim, int64_t used) {
  return t.narrow(dim, 0, used).clone(at::MemoryFormat::Contiguous);
}

}  // namespace

SvdCache::SvdCache(KvProfile profile, const LlamaConfig& cfg, SvdCacheOptions opts, int64_t batch,
                   at::ScalarType dtype, at::Device device, const std::vector<at::Tensor>& w_o)
    : cfg_(cfg), opts_(std::move(opts)), batch_(batch), dtype_(dtype), device_(device) {
  KVSVD_CHECK(batch > 0, "svd cache: batch must be > 0, got ", batch);
  KVSVD_CHECK(cfg.num_kv_heads > 0 && cfg.num_heads % cfg.num_kv_heads == 0,
              "svd cache: ", cfg.num_heads, " query heads cannot be grouped over ",
              cfg.num_kv_heads, " KV heads");
  KVSVD_CHECK(static_cast<int64_t>(profile.layers.size()) == cfg.num_layers, "svd cache: profile has ",
              profile.layers.size(), " layers but the model has ", cfg.num_layers);
  check_quant_spec(opts_.quant, /*allow_none=*/true);
  KVSVD_CHECK(w_o.empty() || static_cast<int64_t>(w_o.size()) == cfg.num_layers,
              "svd cache: ", w_o.size(), " o_proj weights given for ", cfg.num_layers, " layers");
  const int64_t d = cfg.head_dim;

  key_rank_ = opts_.key_rank == 0 ? profile.key_rank : opts_.key_rank;
  KVSVD_CHECK(key_rank_ >= 1 && key_rank_ <= profile.key_rank, "--key-rank: key rank ", key_rank_,
              " is outside [1, ", profile.key_rank, "] (the store's key rank is ",
              profile.key_rank, ")");
  if (opts_.value_ranks.empty()) {
    opts_.value_ranks = default_value_ranks(d);
    for (auto& nr : opts_.value_ranks) nr.rank = std::min(nr.rank, profile.value_rank);
  }
  for (const auto& nr : opts_.value_ranks)
    KVSVD_CHECK(nr.rank >= 1 && nr.rank <= profile.value_rank, "--value-ranks: value rank ",
                nr.name, "=", nr.rank, " is outside [1, ", profile.value_rank,
                "] (the store's value rank is ", profile.value_rank, ")");
  for (RankLevel level : opts_.policy.levels_used()) {
    const int64_t r = rank_of(level);
    if (std::find(group_ranks_.begin(), group_ranks_.end(), r) == group_ranks_.end())
      group_ranks_.push_back(r);
  }
  std::sort(group_ranks_.begin(), group_ranks_.end());
  r_top_ = group_ranks_.back();

  auto opt = at::TensorOptions().dtype(dtype).device(device);
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    KvLayerProfile& p = profile.layers[l];
    KVSVD_CHECK(p.key_basis.dim() == 3 && p.key_basis.size(0) == cfg.num_kv_heads &&
                    p.key_basis.size(1) == d && p.key_basis.size(2) == profile.key_rank,
                "svd cache: layer ", l, " key basis is ", p.key_basis.sizes(), ", expected [",
                cfg.num_kv_heads, ", ", d, ", ", profile.key_rank, "]");
    KVSVD_CHECK(p.value_basis.dim() == 3 && p.value_basis.size(0) == cfg.num_kv_heads &&
                    p.value_basis.size(1) == d && p.value_basis.size(2) == profile.value_rank,
                "svd cache: layer ", l, " value basis is ", p.value_basis.sizes(), ", expected [",
                cfg.num_kv_heads, ", ", d, ", ", profile.value_rank, "]");
    Layer L;
    L.key_basis = p.key_basis.narrow(2, 0, key_rank_).to(device, dtype).contiguous();
    L.value_basis = p.value_basis.narrow(2, 0, r_top_).to(device, dtype).contiguous();
    if (!w_o.empty()) {
      fuse(L, w_o[l]);
    } else if (p.fused_output.defined()) {
      KVSVD_CHECK(p.fused_output.dim() == 3 && p.fused_output.size(0) == cfg.num_heads &&
                      p.fused_output.size(1) == cfg.hidden_size &&
                      p.fused_output.size(2) == profile.value_rank,
                  "svd cache: layer ", l, " fused output is ", p.fused_output.sizes(),
                  ", expected [", cfg.num_heads, ", ", cfg.hidden_size, ", ", profile.value_rank, "]");
      // [Hq, hidden, r] -> [hidden, Hq, r_top] -> [hidden, Hq*r_top]
      L.fused = p.fused_output.narrow(2, 0, r_top_)
                    .permute({1, 0, 2})
                    .to(device, dtype)
                    .contiguous()
                    .view({cfg.hidden_size, cfg.num_heads * r_top_});
    }
    if (opts_.hadamard)  // c' = (P_K H)ᵀ k = Hᵀ c: k̂ = (P_K H) c' = P_K c, nothing else changes
      L.key_basis = at::matmul(L.key_basis, hadamard_rotation(key_rank_, dtype, device));
    L.keys = QuantRows(opts_.quant, dtype);
    L.keys.append(at::empty({batch, cfg.num_kv_heads, 0, key_rank_}, opt));
    for (int64_t r : group_ranks_) {
      Group g;
      g.rank = r;
      g.coeff = QuantRows(opts_.quant, dtype);
      g.coeff.append(at::empty({batch, cfg.num_kv_heads, 0, r}, opt));
      if (opts_.hadamard) g.rotation = hadamard_rotation(r, dtype, device);
      g.positions = at::empty({0}, at::TensorOptions().dtype(at::kLong).device(device));
      L.groups.push_back(std::move(g));
    }
    layers_.push_back(std::move(L));
  }
}

int64_t SvdCache::rank_of(RankLevel level) const {
  const char* name = rank_level_name(level);
  for (const auto& nr : opts_.value_ranks)
    if (nr.name == name) return nr.rank;
  fail(cat("--value-ranks: no rank named '", name, "' (", named_ranks_to_string(opts_.value_ranks),
           "), which rank policy '", opts_.policy.spec(), "' uses"));
}

void SvdCache::fuse(Layer& L, const at::Tensor& w_o) const {
  KVSVD_CHECK(w_o.defined() && w_o.dim() == 2 && w_o.size(1) == cfg_.num_heads * cfg_.head_dim,
              "svd cache: o_proj weight must be [hidden, ", cfg_.num_heads * cfg_.head_dim,
              "], got ", w_o.defined() ? w_o.sizes() : at::IntArrayRef{});
  // [Hq, hidden, r_top]
  const at::Tensor f = fused_output_f32(w_o.to(device_), L.value_basis, cfg_.num_heads);
  L.fused = f.permute({1, 0, 2}).to(dtype_).contiguous().view({w_o.size(0),
                                                               cfg_.num_heads * r_top_});
}

const SvdCache::BlockPlan& SvdCache::plan_block(int64_t pos0, int64_t count) {
  if (plan_.pos0 == pos0 && plan_.count == count) return plan_;
  KVSVD_ASSERT(pos0 == static_cast<int64_t>(token_ranks_.size()), "block plan out of order");
  if (pos0 == 0) prompt_len_ = explicit_prompt_len_ > 0 ? explicit_prompt_len_ : count;
  const std::vector<RankLevel> levels = opts_.policy.assign(pos0, count, prompt_len_);
  std::vector<std::vector<int64_t>> offsets(group_ranks_.size()), positions(group_ranks_.size());
  for (int64_t t = 0; t < count; ++t) {
    const int64_t r = rank_of(levels[t]);
    const size_t g = std::find(group_ranks_.begin(), group_ranks_.end(), r) - group_ranks_.begin();
    KVSVD_ASSERT(g < group_ranks_.size(), "rank without a group");
    offsets[g].push_back(t);
    positions[g].push_back(pos0 + t);
    token_ranks_.push_back(r);
  }
  plan_ = BlockPlan();
  plan_.pos0 = pos0;
  plan_.count = count;
  for (size_t g = 0; g < group_ranks_.size(); ++g) {
    plan_.offsets.push_back(at::tensor(offsets[g], at::kLong).to(device_));
    plan_.positions.push_back(at::tensor(positions[g], at::kLong).to(device_));
  }
  return plan_;
}

at::Tensor SvdCache::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                            const at::Tensor& v, const Rope& rope, const at::Tensor& w_o) {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(layers_.size()), "svd cache: layer ",
              layer, " out of range [0, ", layers_.size(), ")");
  const int64_t Hq = cfg_.num_heads, Hkv = cfg_.num_kv_heads, d = cfg_.head_dim;
  const int64_t G = Hq / Hkv;
  KVSVD_CHECK(q.dim() == 4 && q.size(0) == batch_ && q.size(1) == Hq && q.size(3) == d,
              "svd cache: layer ", layer, " expected q [", batch_, ", ", Hq, ", T, ", d, "], got ",
              q.sizes());
  const int64_t T = q.size(2);
  KVSVD_CHECK(k.dim() == 4 && k.size(0) == batch_ && k.size(1) == Hkv && k.size(2) == T &&
                  k.size(3) == d && v.sizes() == k.sizes(),
              "svd cache: layer ", layer, " expected k, v [", batch_, ", ", Hkv, ", ", T, ", ", d,
              "], got ", k.sizes(), " and ", v.sizes());
  Layer& L = layers_[layer];
  const int64_t pos0 = len_, S = len_ + T;
  int64_t stored = 0;
  for (const Group& g : L.groups) stored += g.size;
  KVSVD_CHECK(stored == pos0 && L.keys.size() == pos0, "svd cache: layer ", layer, " already holds ", stored,
              " tokens but the cache length is ", pos0, " (attend twice without advance?)");
  if (!L.fused.defined()) fuse(L, w_o);
  const BlockPlan& plan = plan_block(pos0, T);

  const at::Tensor qd = q.to(dtype_), kd = k.to(dtype_), vd = v.to(dtype_);
  const bool pre = opts_.key_space == KeySpace::PreRope;

  // Keys: c_k = P_Kᵀ k (pre-RoPE) or P_Kᵀ rope(k) (post-RoPE), [B, Hkv, T, r_k].
  at::Tensor ck = at::matmul(pre ? kd : rope.apply(kd, pos0), L.key_basis);
  L.keys.append(ck);
  const at::Tensor kc = L.keys.read();  // [B, Hkv, S, r_k] (dequantized temporary when quantized)

  // Values: coefficients in the nested basis, each token cut to its group's rank.
  const at::Tensor cv = at::matmul(vd, L.value_basis);  // [B, Hkv, T, r_top]
  for (size_t gi = 0; gi < L.groups.size(); ++gi) {
    Group& g = L.groups[gi];
    const int64_t n = plan.offsets[gi].numel();
    if (n == 0) continue;
    at::Tensor c = cv.index_select(2, plan.offsets[gi]).narrow(3, 0, g.rank);  // [B,Hkv,n,r]
    if (g.rotation.defined()) c = at::matmul(c, g.rotation);
    g.coeff.append(c);
    append_rows(g.positions, g.size, plan.positions[gi], 0);
    g.size += n;
  }

  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  if (T > 1) {
    // Blocks of queries (prefill) through SDPA's fused kernels. Workspaces of this call only:
    // the value coefficients zero-padded to r_top in position order (still coefficients: values
    // are never rebuilt) and, for pre-RoPE bases, the rebuilt keys.
    at::Tensor vpad = at::zeros({batch_, Hkv, S, r_top_}, cv.options());  // [B,Hkv,S,r_top]
    for (const Group& g : L.groups) {
      if (g.size == 0) continue;
      at::Tensor coeff = g.coeff.read();  // [B,Hkv,n_g,r]
      if (g.rotation.defined()) coeff = at::matmul(coeff, g.rotation.t());
      if (g.size == S)
        vpad.narrow(3, 0, g.rank).copy_(coeff);
      else
        vpad.narrow(3, 0, g.rank).index_copy_(2, g.positions.narrow(0, 0, g.size), coeff);
    }
    const at::Tensor qrope = rope.apply(qd, pos0);  // [B,Hq,T,d]
    at::Tensor out;
    if (pre) {
      const at::Tensor khat = rope.apply(at::matmul(kc, L.key_basis.transpose(1, 2)), 0);
      out = sdpa_causal_attention(qrope, khat, vpad, scale);
    } else {
      const at::Tensor qt = at::matmul(qrope.reshape({batch_, Hkv, G * T, d}), L.key_basis)
                                .reshape({batch_, Hq, T, key_rank_});  // q̃ = P_Kᵀ rope(q)
      out = sdpa_causal_attention(qt, kc, vpad, scale);
    }
    if (out.defined()) {  // [B,Hq,T,r_top]
      at::Tensor flat = out.transpose(1, 2).reshape({batch_, T, Hq * r_top_});
      return at::linear(flat, L.fused);  // [B, T, hidden]
    }
  }

  // Scores against every cached key, [B, Hkv, G, T, S] (query head h = kv*G + j reads KV head kv).
  const at::Tensor qr = rope.apply(qd, pos0).reshape({batch_, Hkv, G, T, d});
  at::Tensor lhs, rhs;  // lhs [B,Hkv,G,T,x], rhs [B,Hkv,1,x,S]
  if (pre) {
    // k̂ = c_k P_Kᵀ, then RoPE at 0..S-1: keys are rebuilt (values never are).
    at::Tensor khat = rope.apply(at::matmul(kc, L.key_basis.transpose(1, 2)), 0);  // [B,Hkv,S,d]
    lhs = qr;
    rhs = khat.unsqueeze(2).transpose(3, 4);
  } else {
    lhs = at::matmul(qr, L.key_basis.unsqueeze(1));  // q̃ = P_Kᵀ rope(q): [B,Hkv,G,T,r_k]
    rhs = kc.unsqueeze(2).transpose(3, 4);
  }
  const int64_t rows_per_query = batch_ * Hq * S;
  const int64_t block = std::max<int64_t>(1, kMaxScoreElements / std::max<int64_t>(1, rows_per_query));
  auto lopt = at::TensorOptions().dtype(at::kLong).device(device_);
  const at::Tensor kpos = at::arange(0, S, lopt).unsqueeze(0);  // [1, S]

  std::vector<at::Tensor> parts;
  for (int64_t t0 = 0; t0 < T; t0 += block) {
    const int64_t n = std::min(block, T - t0);
    at::Tensor scores = at::matmul(lhs.narrow(3, t0, n), rhs) * scale;  // [B,Hkv,G,n,S]
    if (pos0 + t0 < S - 1) {  // some key lies after the block's first query
      const at::Tensor qpos = at::arange(pos0 + t0, pos0 + t0 + n, lopt).unsqueeze(1);  // [n, 1]
      scores = scores.masked_fill(kpos > qpos, -std::numeric_limits<double>::infinity());
    }
    const at::Tensor probs = at::softmax(scores, -1, at::kFloat).to(dtype_);  // [B,Hkv,G,n,S]
    // Σ_g A[..., positions_g] · C_V,g, each group zero-padded to r_top: the padded sum times W̃_O
    // equals Σ_g out_g · W̃_O[:, :, :r_g]ᵀ.
    at::Tensor acc = at::zeros({batch_, Hkv, G, n, r_top_}, probs.options());
    for (const Group& g : L.groups) {
      if (g.size == 0) continue;
      at::Tensor coeff = g.coeff.read();  // [B,Hkv,n_g,r] (a dequantized temporary)
      if (g.rotation.defined()) coeff = at::matmul(coeff, g.rotation.t());
      coeff = coeff.unsqueeze(2);  // [B,Hkv,1,n_g,r]
      // A group holding every token holds them in position order: no gather needed.
      const at::Tensor a = g.size == S ? probs
                                       : probs.index_select(4, g.positions.narrow(0, 0, g.size));
      acc.narrow(4, 0, g.rank).add_(at::matmul(a, coeff));
    }
    parts.push_back(acc);
  }
  at::Tensor acc = parts.size() == 1 ? parts[0] : at::cat(parts, 3);  // [B,Hkv,G,T,r_top]
  at::Tensor flat = acc.reshape({batch_, Hq, T, r_top_}).transpose(1, 2).reshape(
      {batch_, T, Hq * r_top_});
  return at::linear(flat, L.fused);  // [B, T, hidden]
}

void SvdCache::advance(int64_t tokens) {
  KVSVD_CHECK(tokens >= 0, "svd cache: advance by ", tokens);
  len_ += tokens;
  for (size_t l = 0; l < layers_.size(); ++l) {
    int64_t stored = 0;
    for (const Group& g : layers_[l].groups) stored += g.size;
    KVSVD_CHECK(stored == len_, "svd cache: advance to ", len_, " but layer ", l, " holds ",
                stored, " tokens");
  }
}

void SvdCache::reset() {
  // Storage is kept (like FullCache) so that equal windows reuse it without reallocating.
  len_ = 0;
  prompt_len_ = 0;
  token_ranks_.clear();
  plan_ = BlockPlan();
  for (Layer& L : layers_) {
    L.keys.clear();
    for (Group& g : L.groups) {
      g.size = 0;
      g.coeff.clear();
    }
  }
}

void SvdCache::set_prompt_length(int64_t n) {
  KVSVD_CHECK(n >= 0, "svd cache: prompt length must be >= 0, got ", n);
  KVSVD_CHECK(len_ == 0, "svd cache: set the prompt length before the first block");
  explicit_prompt_len_ = n;
}

void SvdCache::shrink_to_fit() {
  for (Layer& L : layers_) {
    L.keys.shrink_to_fit();
    for (Group& g : L.groups) {
      g.coeff.shrink_to_fit();
      g.positions = exact_copy(g.positions, 0, g.size);
    }
  }
}

std::vector<int64_t> SvdCache::layer_bytes() const {
  std::vector<int64_t> out;
  for (const Layer& L : layers_) {
    int64_t b = L.keys.bytes();
    for (const Group& g : L.groups) b += g.coeff.bytes() + storage_bytes(g.positions);
    out.push_back(b);
  }
  return out;
}

int64_t SvdCache::shared_bytes() const {
  int64_t b = 0;
  for (const Layer& L : layers_)
    for (const Group& g : L.groups) b += storage_bytes(g.positions);
  return b;
}

int64_t SvdCache::weights_bytes() const {
  int64_t b = 0;
  for (const Layer& L : layers_) {
    b += storage_bytes(L.key_basis) + storage_bytes(L.value_basis) + storage_bytes(L.fused);
    for (const Group& g : L.groups) b += storage_bytes(g.rotation);
  }
  return b;
}

int64_t SvdCache::group_size(int64_t layer, int64_t rank) const {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(layers_.size()), "svd cache: layer ",
              layer, " out of range");
  for (const Group& g : layers_[layer].groups)
    if (g.rank == rank) return g.size;
  return 0;
}

const at::Tensor& SvdCache::key_basis(int64_t layer) const {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(layers_.size()), "svd cache: layer ",
              layer, " out of range");
  return layers_[layer].key_basis;
}

const at::Tensor& SvdCache::value_basis(int64_t layer) const {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(layers_.size()), "svd cache: layer ",
              layer, " out of range");
  return layers_[layer].value_basis;
}

const at::Tensor& SvdCache::fused_output(int64_t layer, const at::Tensor& w_o) {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(layers_.size()), "svd cache: layer ",
              layer, " out of range");
  Layer& L = layers_[layer];
  if (!L.fused.defined()) fuse(L, w_o);
  return L.fused;
}

std::vector<int64_t> SvdCache::value_ranks_at(int64_t pos0, int64_t count,
                                              int64_t prompt_len) const {
  std::vector<int64_t> out;
  for (RankLevel level : opts_.policy.assign(pos0, count, prompt_len)) out.push_back(rank_of(level));
  return out;
}

}  // namespace kvsvd
