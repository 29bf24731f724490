#include "core/kernels/decode-attention.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "core/kernels/aten-launch.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

void check_args(const at::Tensor& q, const at::Tensor& k_cache, const at::Tensor& v_cache,
                const at::Tensor& lengths) {
  KVSVD_CHECK(q.dim() == 3 && k_cache.dim() == 4 && v_cache.sizes() == k_cache.sizes() &&
                  q.size(0) == k_cache.size(0) && q.size(2) == k_cache.size(3) &&
                  q.size(1) % k_cache.size(1) == 0,
              "decode_attention: q ", q.sizes(), ", caches ", k_cache.sizes(), " / ",
              v_cache.sizes());
  KVSVD_CHECK(lengths.dim() == 1 && lengths.size(0) == q.size(0) &&
                  lengths.scalar_type() == at::kInt,
              "decode_attention: lengths must be [", q.size(0), "] int32, got ", lengths.sizes(),
              " ", lengths.scalar_type());
}

}  // namespace

bool decode_attention_kernel_covers(int64_t head_dim, int64_t group) {
#if KVSVD_HAVE_CUDA
  return decode_attention_supported(head_dim, group);
#else
  (void)head_dim, (void)group;
  return false;
#endif
}

int64_t decode_attention_splits(int64_t batch, int64_t kv_heads, int64_t group, int64_t head_dim,
                                int64_t capacity, at::ScalarType dtype, at::Device device) {
  constexpr int64_t kMinRows = 64, kMaxSplits = 256;
  int64_t per_sm = 1;
#if KVSVD_HAVE_CUDA
  if (device.is_cuda() && decode_attention_supported(head_dim, group))
    per_sm = decode_attention_blocks_per_sm(kernel_dtype(dtype), head_dim, group);
#else
  (void)group, (void)head_dim, (void)dtype;
#endif
  const int64_t resident = per_sm * multiprocessor_count(device);
  const int64_t max_splits = std::max<int64_t>(
      1, std::min((capacity + kMinRows - 1) / kMinRows, kMaxSplits));
  const int64_t heads = batch * kv_heads;
  for (int64_t s = 1; s <= max_splits; ++s) {
    const int64_t blocks = heads * s;
    const int64_t waves = (blocks + resident - 1) / resident;
    if (10 * blocks >= 9 * resident && 10 * blocks >= 9 * waves * resident) return s;
  }
  return max_splits;
}

DecodeAttentionWorkspace make_decode_attention_workspace(int64_t batch, int64_t q_heads,
                                                         int64_t head_dim, int64_t splits,
                                                         at::Device device) {
  auto f = at::TensorOptions().dtype(at::kFloat).device(device);
  DecodeAttentionWorkspace ws;
  ws.splits = splits;
  ws.part_acc = at::empty({batch, q_heads, splits, head_dim}, f);
  ws.part_ml = at::empty({batch, q_heads, splits, 2}, f);
  return ws;
}

at::Tensor decode_attention_reference(const at::Tensor& q, const at::Tensor& k_cache,
                                      const at::Tensor& v_cache, const at::Tensor& lengths,
                                      double scale) {
  check_args(q, k_cache, v_cache, lengths);
  const int64_t B = q.size(0), Hq = q.size(1), d = q.size(2);
  const int64_t Hkv = k_cache.size(1), cap = k_cache.size(2), G = Hq / Hkv;
  const at::Tensor qf = q.to(at::kFloat).reshape({B, Hkv, G, d});          // head kv*G + j
  at::Tensor scores = at::matmul(qf, k_cache.to(at::kFloat).transpose(2, 3)) * scale;  // [B,Hkv,G,cap]
  const at::Tensor slots = at::arange(cap, lengths.options().dtype(at::kLong));
  const at::Tensor masked = slots.view({1, cap}) >= lengths.to(at::kLong).view({B, 1});  // [B, cap]
  scores = scores.masked_fill(masked.view({B, 1, 1, cap}), -std::numeric_limits<double>::infinity());
  const at::Tensor probs = at::softmax(scores, -1);
  // Rows past the length may hold anything (NaN too): zeroed, since 0 * NaN is NaN.
  const at::Tensor vf = v_cache.to(at::kFloat).masked_fill(masked.view({B, 1, cap, 1}), 0.0);
  return at::matmul(probs, vf).reshape({B, Hq, d}).to(q.scalar_type());
}

at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache,
                            const at::Tensor& v_cache, const at::Tensor& lengths, double scale,
                            const DecodeAttentionWorkspace& ws) {
  check_args(q, k_cache, v_cache, lengths);
  const int64_t B = q.size(0), Hq = q.size(1), d = q.size(2), Hkv = k_cache.size(1);
  const at::ScalarType dt = k_cache.scalar_type();
  const int64_t elem = static_cast<int64_t>(at::elementSize(dt));
  const bool aligned = (d * elem) % 16 == 0 && (q.stride(0) * elem) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(q.data_ptr()) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(k_cache.data_ptr()) % 16 == 0 &&
                       reinterpret_cast<uintptr_t>(v_cache.data_ptr()) % 16 == 0;
  const bool kernel = on_cuda_kernel_path(q) && q.scalar_type() == dt &&
                      v_cache.scalar_type() == dt && q.stride(2) == 1 && q.stride(1) == d &&
                      k_cache.is_contiguous() && v_cache.is_contiguous() && aligned &&
                      decode_attention_kernel_covers(d, Hq / Hkv) && ws.part_acc.defined() &&
                      ws.part_acc.size(0) >= B && ws.part_acc.size(1) == Hq &&
                      ws.part_acc.size(2) == ws.splits && ws.part_acc.size(3) == d &&
                      ws.splits <= 256;  // the merge kernel's shared weights
  if (!kernel) return decode_attention_reference(q, k_cache, v_cache, lengths, scale);
#if KVSVD_HAVE_CUDA
  at::Tensor out = at::empty({B, Hq, d}, q.options());
  DecodeAttentionArgs a{};
  a.q = q.data_ptr(); a.q_bstride = q.stride(0);
  a.k_cache = k_cache.data_ptr(); a.v_cache = v_cache.data_ptr();
  a.lengths = lengths.data_ptr<int32_t>();
  a.part_acc = ws.part_acc.data_ptr<float>(); a.part_ml = ws.part_ml.data_ptr<float>();
  a.out = out.data_ptr(); a.out_bstride = Hq * d;
  a.batch = B; a.q_heads = Hq; a.kv_heads = Hkv; a.head_dim = d;
  a.capacity = k_cache.size(2); a.splits = ws.splits;
  a.scale = static_cast<float>(scale);
  launch_decode_attention(kernel_dtype(dt), a, current_stream(q));
  return out;
#else
  return decode_attention_reference(q, k_cache, v_cache, lengths, scale);
#endif
}

}  // namespace kvsvd
