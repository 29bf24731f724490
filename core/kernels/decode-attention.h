// Split-K (flash-decoding) attention of one query token per sequence over a fixed-capacity GQA
// cache, reading only the filled rows, whose count lives on the device (CUDA kernel, or its ATen
// reference elsewhere).
#pragma once
#include <ATen/ATen.h>

namespace kvsvd {

// The kernel's partial results, allocated once per cache (the kernel allocates nothing).
struct DecodeAttentionWorkspace {
  at::Tensor part_acc;  // [B, Hq, splits, d] float32
  at::Tensor part_ml;   // [B, Hq, splits, 2] float32: running max (log2 units) and sum
  int64_t splits = 1;
};

// Whether the CUDA kernel has an instance for this head_dim and GQA group (false without CUDA).
bool decode_attention_kernel_covers(int64_t head_dim, int64_t group);

// Splits of the sequence for this shape: the fewest that fill the resident blocks of the device
// in nearly whole waves (>= 90% of the last wave busy), at least 64 rows each at full capacity.
int64_t decode_attention_splits(int64_t batch, int64_t kv_heads, int64_t group, int64_t head_dim,
                                int64_t capacity, at::ScalarType dtype, at::Device device);
DecodeAttentionWorkspace make_decode_attention_workspace(int64_t batch, int64_t q_heads,
                                                         int64_t head_dim, int64_t splits,
                                                         at::Device device);

// q: [B, Hq, d] (head stride d); k_cache, v_cache: [B, Hkv, capacity, d] contiguous, Hq a
// multiple of Hkv (query head h reads KV head h / (Hq/Hkv)); lengths: [B] int32 on the device,
// rows 0 .. lengths[b]-1 attended (>= 1). Returns softmax(q k^T * scale) v as [B, Hq, d] in q's
// dtype. No host synchronisation.
at::Tensor decode_attention(const at::Tensor& q, const at::Tensor& k_cache,
                            const at::Tensor& v_cache, const at::Tensor& lengths, double scale,
                            const DecodeAttentionWorkspace& ws);
// Float32 maths over the whole capacity under a length mask (reads every row; for tests and the
// CPU).
at::Tensor decode_attention_reference(const at::Tensor& q, const at::Tensor& k_cache,
                                      const at::Tensor& v_cache, const at::Tensor& lengths,
                                      double scale);

}  // namespace kvsvd
