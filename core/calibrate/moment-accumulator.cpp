#include "core/calibrate/moment-accumulator.h"

#include <algorithm>

#include "core/kv/full-cache.h"
#include "core/util/error.h"

namespace kvsvd {

KvMoments KvMoments::zeros(int64_t num_layers, int64_t n_kv, int64_t head_dim) {
  KvMoments m;
  m.key = at::zeros({num_layers, n_kv, head_dim, head_dim}, at::kDouble);
  m.value = at::zeros({num_layers, n_kv, head_dim, head_dim}, at::kDouble);
  return m;
}

void KvMoments::add(const KvMoments& other) {
  KVSVD_CHECK(key.defined() && other.key.defined() && key.sizes() == other.key.sizes() &&
                  value.sizes() == other.value.sizes(),
              "KvMoments::add: moments of different shapes (", key.defined() ? key.sizes() : at::IntArrayRef{},
              " vs ", other.key.defined() ? other.key.sizes() : at::IntArrayRef{}, ")");
  key.add_(other.key);
  value.add_(other.value);
  tokens += other.tokens;
}

MomentAccumulator::MomentAccumulator(const LlamaConfig& cfg, KeySpace key_space, at::Device device)
    : cfg_(cfg), key_space_(key_space), device_(device) {
  const auto opts = at::TensorOptions().dtype(at::kDouble).device(device_);
  for (int64_t l = 0; l < cfg_.num_layers; ++l) {
    key_.push_back(at::zeros({cfg_.num_kv_heads, cfg_.head_dim, cfg_.head_dim}, opts));
    value_.push_back(at::zeros({cfg_.num_kv_heads, cfg_.head_dim, cfg_.head_dim}, opts));
  }
  tokens_.assign(cfg_.num_layers, 0);
}

void MomentAccumulator::observe(int64_t layer, const at::Tensor& k, const at::Tensor& v,
                                const Rope& rope) {
  KVSVD_ASSERT(layer >= 0 && layer < cfg_.num_layers, "layer ", layer);
  const int64_t Hkv = cfg_.num_kv_heads, d = cfg_.head_dim;
  KVSVD_CHECK(k.dim() == 4 && k.size(1) == Hkv && k.size(3) == d && v.sizes() == k.sizes(),
              "moment accumulator, layer ", layer, ": expected k, v [B, ", Hkv, ", T, ", d,
              "], got ", k.sizes(), " and ", v.sizes());
  const int64_t B = k.size(0), T = k.size(2);
  // RoPE in the model's dtype, as the cache sees the keys; the moments in float64.
  const at::Tensor kk = key_space_ == KeySpace::PostRope ? rope.apply(k, pos0_) : k;
  // [B, Hkv, T, d] -> [Hkv, B*T, d]
  const at::Tensor kx = kk.to(device_, at::kDouble).transpose(0, 1).reshape({Hkv, B * T, d});
  const at::Tensor vx = v.to(device_, at::kDouble).transpose(0, 1).reshape({Hkv, B * T, d});
  key_[layer].add_(at::matmul(kx.transpose(1, 2), kx));
  value_[layer].add_(at::matmul(vx.transpose(1, 2), vx));
  tokens_[layer] += B * T;
}

KvMoments MomentAccumulator::take() {
  for (int64_t l = 1; l < cfg_.num_layers; ++l) {
    KVSVD_ASSERT(tokens_[l] == tokens_[0], "layer ", l, " saw ", tokens_[l], " tokens, layer 0 saw ",
                 tokens_[0]);
  }
  KvMoments m;
  m.key = at::stack(key_).to(at::Device(at::kCPU)).contiguous();
  m.value = at::stack(value_).to(at::Device(at::kCPU)).contiguous();
  m.tokens = cfg_.num_layers > 0 ? tokens_[0] : 0;
  for (auto& t : key_) t.zero_();
  for (auto& t : value_) t.zero_();
  tokens_.assign(cfg_.num_layers, 0);
  return m;
}

namespace {
// Clears the model's observer on every exit path, so a failed window leaves no dangling callback.
struct ObserverGuard {
  LlamaModel& model;
  ~ObserverGuard() { model.set_observer(nullptr); }
};
}  // namespace

namespace {
// Windows of equal length through the model as one batch [B, T], with `acc` observing (added to
// whatever `acc` already holds).
void observe_windows(LlamaModel& model, MomentAccumulator& acc,
                     const std::vector<const std::vector<int32_t>*>& batch) {
  const LlamaConfig& cfg = model.config();
  const int64_t B = static_cast<int64_t>(batch.size());
  const int64_t T = static_cast<int64_t>(batch[0]->size());
  KVSVD_CHECK(T > 0, "calibration window is empty");
  acc.set_position(0);
  const Rope& rope = model.rope();
  ObserverGuard guard{model};
  model.set_observer(
      [&acc, &rope](int64_t layer, const at::Tensor& k, const at::Tensor& v) { acc.observe(layer, k, v, rope); });
  FullCache cache(cfg, B, T, model.dtype(), model.device());
  at::Tensor ids = at::empty({B, T}, at::kLong);
  int64_t* p = ids.data_ptr<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) p[b * T + t] = (*batch[b])[t];
  model.forward(ids, cache, /*last_only=*/true);
}
}  // namespace

int64_t calibration_chunks(int64_t windows) {
  KVSVD_CHECK(windows >= 0, "calibration_chunks: ", windows, " windows");
  return (windows + kWindowsPerChunk - 1) / kWindowsPerChunk;
}

KvMoments chunk_moments(LlamaModel& model, const std::vector<std::vector<int32_t>>& windows,
                        int64_t chunk, KeySpace key_space) {
  const int64_t n = static_cast<int64_t>(windows.size());
  const int64_t first = chunk * kWindowsPerChunk;
  KVSVD_CHECK(chunk >= 0 && first < n, "calibration chunk ", chunk, " out of range (", n,
              " windows)");
  MomentAccumulator acc(model.config(), key_space, model.device());
  // Consecutive windows of equal length run as one batch (a chunk's batches depend only on the
  // window list, never on the rank count).
  std::vector<const std::vector<int32_t>*> batch;
  for (int64_t w = first; w < std::min(n, first + kWindowsPerChunk); ++w) {
    if (!batch.empty() && batch[0]->size() != windows[w].size()) {
      observe_windows(model, acc, batch);
      batch.clear();
    }
    batch.push_back(&windows[w]);
  }
  observe_windows(model, acc, batch);
  return acc.take();
}

}  // namespace kvsvd
