#include "core/kv/chunked-cache.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "core/compress/rank-plan.h"
#include "core/util/error.h"

namespace kvsvd {

void check_chunked_options(const ChunkedCacheOptions& o) {
  KVSVD_CHECK(o.chunk_size > 0, "--chunk-size must be > 0, got ", o.chunk_size);
  KVSVD_CHECK(o.energy_threshold >= 0 && o.energy_threshold <= 1,
              "--energy-threshold must be in (0, 1] (or 0 to use --compression-ratio), got ",
              o.energy_threshold);
  KVSVD_CHECK(o.energy_threshold > 0 || o.compression_ratio > 0,
              "--compression-ratio must be > 0 when no --energy-threshold is given, got ",
              o.compression_ratio);
  KVSVD_CHECK(o.min_rank_ratio >= 0 && o.min_rank_ratio <= 1,
              "--min-rank-ratio must be in [0, 1], got ", o.min_rank_ratio);
  check_quant_spec(o.quant, /*allow_none=*/true);
}

ChunkedCache::ChunkedCache(const LlamaConfig& cfg, ChunkedCacheOptions opts, int64_t batch,
                           at::ScalarType dtype, at::Device device)
    : cfg_(cfg), opts_(opts), batch_(batch), dtype_(dtype), open_dtype_(dtype), device_(device) {
  check_chunked_options(opts_);
  if (opts_.quant.bits != 0) open_dtype_ = dtype == at::kBFloat16 ? at::kBFloat16 : at::kHalf;
  KVSVD_CHECK(batch > 0, "chunked cache: batch must be > 0, got ", batch);
  KVSVD_CHECK(cfg.num_layers > 0 && cfg.num_kv_heads > 0 && cfg.head_dim > 0 &&
                  cfg.num_heads % cfg.num_kv_heads == 0,
              "chunked cache: config needs layers, KV heads, head_dim, and Hq % Hkv == 0");
  auto opt = at::TensorOptions().dtype(open_dtype_).device(device);
  for (int64_t l = 0; l < cfg.num_layers; ++l) {
    Layer L;
    // The open chunk never exceeds C rows: one buffer of that size, allocated once.
    L.k_open = at::empty({batch, cfg.num_kv_heads, opts_.chunk_size, cfg.head_dim}, opt);
    L.v_open = at::empty({batch, cfg.num_kv_heads, opts_.chunk_size, cfg.head_dim}, opt);
    layers_.push_back(std::move(L));
  }
}

int64_t ChunkedCache::ratio_rank() const {
  const double C = static_cast<double>(opts_.chunk_size), d = static_cast<double>(cfg_.head_dim);
  const int64_t r = static_cast<int64_t>(std::floor(C * d / (opts_.compression_ratio * (C + d))));
  return std::max<int64_t>(1, std::min<int64_t>(r, std::min(opts_.chunk_size, cfg_.head_dim)));
}

std::pair<at::Tensor, at::Tensor> ChunkedCache::compress(const at::Tensor& x) const {
  // SVD in float32 whatever the cache dtype (bf16/fp16 SVD is not supported and too coarse).
  at::Tensor U, S, Vh;
  std::tie(U, S, Vh) = at::linalg_svd(x.to(at::kFloat), /*full_matrices=*/false);
  const int64_t m = S.size(-1);  // min(C, d)
  int64_t r = 0;
  if (opts_.energy_threshold > 0) {
    // One rank per chunk: the largest that any (sequence, head) needs.
    const at::Tensor e = S.pow(2).reshape({-1, m}).to(at::kCPU, at::kDouble).contiguous();
    auto acc = e.accessor<double, 2>();
    for (int64_t i = 0; i < e.size(0); ++i) {
      std::vector<double> energies(m);
      for (int64_t j = 0; j < m; ++j) energies[j] = acc[i][j];
      r = std::max(r, rank_for_energy(energy_curve(energies), opts_.energy_threshold,
                                      opts_.min_rank_ratio));
    }
    r = std::max<int64_t>(1, std::min(r, m));
  } else {
    r = std::min(ratio_rank(), m);
  }
  at::Tensor us = U.narrow(-1, 0, r) * S.narrow(-1, 0, r).unsqueeze(-2);  // [B,Hkv,C,r]
  at::Tensor vh = Vh.narrow(-2, 0, r);                                     // [B,Hkv,r,d]
  // Own exact-size storage (a narrow view would keep the whole SVD factor alive).
  return {us.to(dtype_).clone(at::MemoryFormat::Contiguous),
          vh.to(dtype_).clone(at::MemoryFormat::Contiguous)};
}

ChunkedCache::Chunk ChunkedCache::store(const at::Tensor& k_rows, const at::Tensor& v_rows) const {
  Chunk c{QuantRows(opts_.quant, dtype_), QuantRows(opts_.quant, dtype_),
          QuantRows(opts_.quant, dtype_), QuantRows(opts_.quant, dtype_)};
  at::Tensor us, vh;
  std::tie(us, vh) = compress(k_rows);
  c.k_us.append(us);
  c.k_vh.append(vh);
  std::tie(us, vh) = compress(v_rows);
  c.v_us.append(us);
  c.v_vh.append(vh);
  // Exact-size storage: a chunk never grows.
  c.k_us.shrink_to_fit();
  c.k_vh.shrink_to_fit();
  c.v_us.shrink_to_fit();
  c.v_vh.shrink_to_fit();
  return c;
}

ChunkedCache::Factors ChunkedCache::read(const Chunk& c) {
  return Factors{c.k_us.read(), c.k_vh.read(), c.v_us.read(), c.v_vh.read()};
}

at::Tensor ChunkedCache::attend(int64_t layer, const at::Tensor& q, const at::Tensor& k,
                                const at::Tensor& v, const Rope& rope, const at::Tensor& w_o) {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(layers_.size()), "chunked cache: layer ",
              layer, " out of range [0, ", layers_.size(), ")");
  const int64_t Hq = cfg_.num_heads, Hkv = cfg_.num_kv_heads, d = cfg_.head_dim;
  const int64_t G = Hq / Hkv, C = opts_.chunk_size;
  KVSVD_CHECK(q.dim() == 4 && q.size(0) == batch_ && q.size(1) == Hq && q.size(3) == d,
              "chunked cache: layer ", layer, " expected q [", batch_, ", ", Hq, ", T, ", d,
              "], got ", q.sizes());
  const int64_t T = q.size(2);
  KVSVD_CHECK(k.dim() == 4 && k.size(0) == batch_ && k.size(1) == Hkv && k.size(2) == T &&
                  k.size(3) == d && v.sizes() == k.sizes(),
              "chunked cache: layer ", layer, " expected k, v [", batch_, ", ", Hkv, ", ", T, ", ",
              d, "], got ", k.sizes(), " and ", v.sizes());
  Layer& L = layers_[layer];
  const int64_t pos0 = len_, S = len_ + T;
  KVSVD_CHECK(L.stored == pos0, "chunked cache: layer ", layer, " already holds ", L.stored,
              " tokens but the cache length is ", pos0, " (attend twice without advance?)");
  const int64_t n_old = pos0 / C, n_open = pos0 % C, base = n_old * C;
  KVSVD_ASSERT(static_cast<int64_t>(L.chunks.size()) == n_old, "chunk count");

  const at::Tensor qr = rope.apply(q.to(dtype_), pos0).reshape({batch_, Hkv, G, T, d});
  // Rounded at once to the open chunk's storage dtype, so every query sees the same rows.
  const at::Tensor kr = rope.apply(k.to(dtype_), pos0).to(open_dtype_).to(dtype_);  // [B,Hkv,T,d]
  const at::Tensor vd = v.to(open_dtype_).to(dtype_);
  // The open rows followed by the block: [B, Hkv, n_open + T, d], position base + i.
  const at::Tensor tail_k =
      n_open > 0 ? at::cat({L.k_open.narrow(2, 0, n_open).to(dtype_), kr}, 2) : kr;
  const at::Tensor tail_v =
      n_open > 0 ? at::cat({L.v_open.narrow(2, 0, n_open).to(dtype_), vd}, 2) : vd;
  const int64_t n_new = (n_open + T) / C, rem = (n_open + T) % C;
  std::vector<Chunk> fresh;
  std::vector<Factors> fresh_f, old_f;  // dequantized temporaries of this call
  for (int64_t j = 0; j < n_new; ++j) {
    fresh.push_back(store(tail_k.narrow(2, j * C, C), tail_v.narrow(2, j * C, C)));
    fresh_f.push_back(read(fresh.back()));
  }
  for (const Chunk& c : L.chunks) old_f.push_back(read(c));

  auto lopt = at::TensorOptions().dtype(at::kLong).device(device_);
  const at::Tensor qpos = at::arange(pos0, S, lopt).unsqueeze(1);  // [T, 1]
  // q · (U S Vᵀ)ᵀ = (q V)(U S)ᵀ: [B,Hkv,G,T,C] without rebuilding the keys.
  auto comp_scores = [&](const Factors& c) {
    return at::matmul(at::matmul(qr, c.k_vh.unsqueeze(2).transpose(3, 4)),
                      c.k_us.unsqueeze(2).transpose(3, 4));
  };
  auto exact_scores = [&](const at::Tensor& keys) {  // keys [B,Hkv,n,d]
    return at::matmul(qr, keys.unsqueeze(2).transpose(3, 4));
  };
  // (A U S) Vᵀ: [B,Hkv,G,T,d].
  auto comp_values = [&](const at::Tensor& a, const Factors& c) {
    return at::matmul(at::matmul(a, c.v_us.unsqueeze(2)), c.v_vh.unsqueeze(2));
  };

  std::vector<at::Tensor> scores;
  std::vector<at::Tensor> sees;  // per fresh chunk: [T, 1] true where the query sees it compressed
  for (const Factors& c : old_f) scores.push_back(comp_scores(c));
  for (int64_t j = 0; j < n_new; ++j) {
    // Chunk j closes at position base + (j+1)C - 1: queries from there on see it compressed,
    // earlier queries (inside it) saw its rows exact when they were decoded.
    sees.push_back(qpos >= base + (j + 1) * C - 1);
    scores.push_back(at::where(sees.back(), comp_scores(fresh_f[j]),
                               exact_scores(tail_k.narrow(2, j * C, C))));
  }
  if (rem > 0) scores.push_back(exact_scores(tail_k.narrow(2, n_new * C, rem)));
  at::Tensor s = at::cat(scores, 4) * (1.0 / std::sqrt(static_cast<double>(d)));  // [B,Hkv,G,T,S]
  KVSVD_ASSERT(s.size(4) == S, "score columns");
  if (T > 1) {
    const at::Tensor kpos = at::arange(0, S, lopt).unsqueeze(0);  // [1, S]
    s = s.masked_fill(kpos > qpos, -std::numeric_limits<double>::infinity());
  }
  const at::Tensor probs = at::softmax(s, -1, at::kFloat).to(dtype_);

  at::Tensor out = at::zeros({batch_, Hkv, G, T, d}, probs.options());
  int64_t col = 0;
  for (const Factors& c : old_f) {
    out.add_(comp_values(probs.narrow(4, col, C), c));
    col += C;
  }
  for (int64_t j = 0; j < n_new; ++j) {
    const at::Tensor a = probs.narrow(4, col, C);
    out.add_(comp_values(a.masked_fill(sees[j].logical_not(), 0), fresh_f[j]));
    out.add_(at::matmul(a.masked_fill(sees[j], 0), tail_v.narrow(2, j * C, C).unsqueeze(2)));
    col += C;
  }
  if (rem > 0)
    out.add_(at::matmul(probs.narrow(4, col, rem), tail_v.narrow(2, n_new * C, rem).unsqueeze(2)));

  // Commit: closed chunks stay compressed, the remainder becomes the open chunk.
  for (Chunk& c : fresh) L.chunks.push_back(std::move(c));
  if (rem > 0) {
    L.k_open.narrow(2, 0, rem).copy_(tail_k.narrow(2, n_new * C, rem));
    L.v_open.narrow(2, 0, rem).copy_(tail_v.narrow(2, n_new * C, rem));
  }
  L.stored = S;

  out = out.reshape({batch_, Hq, T, d}).transpose(1, 2).reshape({batch_, T, Hq * d});
  return at::linear(out, w_o);  // [B, T, hidden]
}

void ChunkedCache::advance(int64_t tokens) {
  KVSVD_CHECK(tokens >= 0, "chunked cache: advance by ", tokens);
  len_ += tokens;
  for (size_t l = 0; l < layers_.size(); ++l)
    KVSVD_CHECK(layers_[l].stored == len_, "chunked cache: advance to ", len_, " but layer ", l,
                " holds ", layers_[l].stored, " tokens");
}

void ChunkedCache::reset() {
  len_ = 0;
  for (Layer& L : layers_) {
    L.chunks.clear();
    L.stored = 0;
  }
}

std::vector<int64_t> ChunkedCache::layer_bytes() const {
  std::vector<int64_t> out;
  for (const Layer& L : layers_) {
    int64_t b = storage_bytes(L.k_open) + storage_bytes(L.v_open);
    for (const Chunk& c : L.chunks)
      b += c.k_us.bytes() + c.k_vh.bytes() + c.v_us.bytes() + c.v_vh.bytes();
    out.push_back(b);
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> ChunkedCache::chunk_ranks(int64_t layer) const {
  KVSVD_CHECK(layer >= 0 && layer < static_cast<int64_t>(layers_.size()), "chunked cache: layer ",
              layer, " out of range");
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const Chunk& c : layers_[layer].chunks) out.emplace_back(c.k_us.width(), c.v_us.width());
  return out;
}

}  // namespace kvsvd
