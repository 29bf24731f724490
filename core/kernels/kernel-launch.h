// Torch-free entry points of the CUDA kernels (core/kernels/*.cu), called by their ATen wrappers.
#pragma once
#include <cstdint>

struct CUstream_st;  // cudaStream_t without the CUDA headers

namespace kvsvd {

enum class KernelDType { Float32, Float16, BFloat16 };
using KernelStream = CUstream_st*;

// h[r] += delta[r] (delta may be null), then out[r] = weight * rms_norm(h[r]) with the variance
// in float32 and transformers' rounding points. h, delta, out: [rows, hidden]; weight: [hidden].
void launch_residual_rms_norm(KernelDType dt, void* h, const void* delta, const void* weight,
                              void* out, int64_t rows, int64_t hidden, float eps, KernelStream s);

// RoPE at positions[b] from cos/sin tables [table_rows, d] on q [B, Hq, d] (-> q_out
// [B, Hq, d] contiguous) and k [B, Hkv, d], whose rotated rows are written, with v's, at row
// positions[b] of k_cache / v_cache [B, Hkv, capacity, d]. q/k/v rows: batch stride in elements,
// head stride d. Positions outside the capacity or the table write nothing.
struct RopeAppendArgs {
  const void* q; const void* k; const void* v;
  int64_t q_bstride, k_bstride, v_bstride;
  const void* cos; const void* sin; int64_t table_rows;
  const int32_t* positions;  // [B] on the device
  void* q_out; void* k_cache; void* v_cache;
  int64_t batch, q_heads, kv_heads, head_dim, capacity;
};
void launch_rope_append(KernelDType dt, const RopeAppendArgs& a, KernelStream s);

// Split-K attention of one query token per sequence over the first lengths[b] rows of a GQA
// cache. Workspace: part_acc [B, Hq, splits, d] and part_ml [B, Hq, splits, 2] float32.
struct DecodeAttentionArgs {
  const void* q; int64_t q_bstride;  // [B, Hq, d] rows, head stride d
  const void* k_cache; const void* v_cache;  // [B, Hkv, capacity, d]
  const int32_t* lengths;            // [B] on the device
  float* part_acc; float* part_ml;
  void* out; int64_t out_bstride;    // [B, Hq, d] rows, head stride d
  int64_t batch, q_heads, kv_heads, head_dim, capacity, splits;
  float scale;
};
void launch_decode_attention(KernelDType dt, const DecodeAttentionArgs& a, KernelStream s);
// Whether launch_decode_attention has an instance for this head_dim and GQA group size.
bool decode_attention_supported(int64_t head_dim, int64_t group);
// Blocks of the split kernel resident per multiprocessor (the occupancy calculator's answer).
int decode_attention_blocks_per_sm(KernelDType dt, int64_t head_dim, int64_t group);

}  // namespace kvsvd

namespace kvsvd {

// y[M, N] = x[M, K] w[N, K]^T for M <= 4 (decode GEMV at small batch): float accumulation, one
// rounding to the element type. x, w, y contiguous; K a multiple of 16 bytes of elements.
void launch_skinny_gemm(KernelDType dt, const void* x, const void* w, void* y, int64_t M,
                        int64_t N, int64_t K, KernelStream s);
constexpr int64_t kSkinnyGemmMaxRows = 4;

}  // namespace kvsvd
