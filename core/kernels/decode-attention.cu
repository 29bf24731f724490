// Split-K (flash-decoding) attention of one query token over a GQA cache. Grid (split, kv head,
// sequence): each block reads its share of one KV head's filled rows once for all G query heads
// of the group, keeps an online softmax per head, and writes an unnormalised partial; a second
// kernel merges the partials by log-sum-exp. The share is computed from the device length, so the
// grid is fixed (graph-capturable) and only filled rows are read.
#include <math_constants.h>

#include "core/kernels/cuda-check.cuh"
#include "core/kernels/kernel-types.cuh"

namespace kvsvd {
namespace {

constexpr int kThreads = 128;

template <typename T, int D, int GMAX>
struct SplitShape {
  static constexpr int kVec = 16 / sizeof(T);  // elements per 16-byte load
  static constexpr int kNv = D / kVec;          // loads per row
  static constexpr int kTpr = kNv <= 4 ? 4 : kNv <= 8 ? 8 : kNv <= 16 ? 16 : 32;  // lanes per row
  static constexpr int kGroups = kThreads / kTpr;  // rows in flight per block
  static constexpr int kUnroll = 8;                // rows per group per tile (loads in flight)
  static constexpr int kTile = kGroups * kUnroll;
  static_assert(D % kVec == 0 && kNv <= 32, "head_dim must be a multiple of 16 bytes, <= 32 loads");
};

template <typename T, int N>
__device__ __forceinline__ void unpack(const uint4& raw, float (&x)[N]) {
  const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
  for (int i = 0; i < N; ++i) x[i] = to_f(e[i]);
}

template <typename T, int D, int GMAX>
__global__ void __launch_bounds__(kThreads) decode_attention_split_kernel(DecodeAttentionArgs a) {
  using S = SplitShape<T, D, GMAX>;
  constexpr int kVec = S::kVec, kTpr = S::kTpr, kGroups = S::kGroups, kUnroll = S::kUnroll,
                kTile = S::kTile;
  const int split = blockIdx.x, kvh = blockIdx.y;
  const int64_t b = blockIdx.z;
  const int G = static_cast<int>(a.q_heads / a.kv_heads);
  const int splits = static_cast<int>(a.splits);
  const int cap = static_cast<int>(a.capacity);
  const int len = min(max(a.lengths[b], 0), cap);
  const int chunk = (len + splits - 1) / splits;
  const int t0 = min(len, split * chunk), t1 = min(len, t0 + chunk);
  const int tid = threadIdx.x, r = tid % kTpr, grp = tid / kTpr;
  const bool active = r < S::kNv;

  // Scores in the log2 domain: q pre-scaled by scale * log2(e), so exp2 gives the softmax.
  const float qscale = a.scale * 1.4426950408889634f;
  float q[GMAX][kVec];
#pragma unroll
  for (int g = 0; g < GMAX; ++g) {
#pragma unroll
    for (int e = 0; e < kVec; ++e) q[g][e] = 0.f;
    if (g < G && active) {
      const T* qr = static_cast<const T*>(a.q) + b * a.q_bstride + (kvh * G + g) * D;
      unpack<T>(*reinterpret_cast<const uint4*>(qr + r * kVec), q[g]);
#pragma unroll
      for (int e = 0; e < kVec; ++e) q[g][e] *= qscale;
    }
  }
  float acc[GMAX][kVec];
#pragma unroll
  for (int g = 0; g < GMAX; ++g)
#pragma unroll
    for (int e = 0; e < kVec; ++e) acc[g][e] = 0.f;

  __shared__ float s_p[GMAX][kTile];
  __shared__ float s_m[GMAX], s_l[GMAX], s_corr[GMAX];
  __shared__ float s_red[kGroups * GMAX * D];
  if (tid < GMAX) {
    s_m[tid] = -CUDART_INF_F;
    s_l[tid] = 0.f;
  }
  __syncthreads();
  const int64_t head_row0 = (b * a.kv_heads + kvh) * static_cast<int64_t>(cap);
  const T* kbase = static_cast<const T*>(a.k_cache) + head_row0 * D + r * kVec;
  const T* vbase = static_cast<const T*>(a.v_cache) + head_row0 * D + r * kVec;
  const int warp = tid / 32, lane = tid % 32;

  for (int base = t0; base < t1; base += kTile) {
    const int n = min(kTile, t1 - base);
    // Keys and values of the tile are loaded together: values do not depend on the softmax,
    // and twice the bytes in flight hide more of the memory latency.
    uint4 raw[kUnroll], vraw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = grp + u * kGroups;
      const bool in = j < n && active;
      raw[u] = in ? __ldg(reinterpret_cast<const uint4*>(kbase + (int64_t)(base + j) * D))
                  : make_uint4(0, 0, 0, 0);
      vraw[u] = in ? __ldg(reinterpret_cast<const uint4*>(vbase + (int64_t)(base + j) * D))
                   : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = grp + u * kGroups;
      float k[kVec];
      unpack<T>(raw[u], k);
      float dot[GMAX];
#pragma unroll
      for (int g = 0; g < GMAX; ++g) {
        dot[g] = 0.f;
#pragma unroll
        for (int e = 0; e < kVec; ++e) dot[g] = fmaf(q[g][e], k[e], dot[g]);
      }
#pragma unroll
      for (int o = kTpr / 2; o > 0; o >>= 1)
#pragma unroll
        for (int g = 0; g < GMAX; ++g) dot[g] += __shfl_xor_sync(0xffffffffu, dot[g], o);
      if (r == 0 && j < n)
#pragma unroll
        for (int g = 0; g < GMAX; ++g)
          if (g < G) s_p[g][j] = dot[g];
    }
    __syncthreads();
    // Online softmax per query head, one warp per head: new max, this tile's probabilities, and
    // the factor that rescales what was accumulated before.
    for (int g = warp; g < G; g += kThreads / 32) {
      float mx = -CUDART_INF_F;
      for (int j = lane; j < n; j += 32) mx = fmaxf(mx, s_p[g][j]);
      for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
      const float m_old = s_m[g], m_new = fmaxf(m_old, mx);
      float sum = 0.f;
      for (int j = lane; j < n; j += 32) {
        const float p = exp2f(s_p[g][j] - m_new);
        s_p[g][j] = p;
        sum += p;
      }
      for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
      if (lane == 0) {
        const float corr = exp2f(m_old - m_new);  // 0 on the first tile (m_old = -inf)
        s_corr[g] = corr;
        s_l[g] = s_l[g] * corr + sum;
        s_m[g] = m_new;
      }
    }
    __syncthreads();
#pragma unroll
    for (int g = 0; g < GMAX; ++g) {
      const float c = g < G ? s_corr[g] : 0.f;
#pragma unroll
      for (int e = 0; e < kVec; ++e) acc[g][e] *= c;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int j = grp + u * kGroups;
      if (j < n) {
        float v[kVec];
        unpack<T>(vraw[u], v);
#pragma unroll
        for (int g = 0; g < GMAX; ++g) {
          const float p = g < G ? s_p[g][j] : 0.f;
#pragma unroll
          for (int e = 0; e < kVec; ++e) acc[g][e] = fmaf(p, v[e], acc[g][e]);
        }
      }
    }
    __syncthreads();  // s_p is rewritten by the next tile
  }

  // Sum the groups' accumulators, then write this split's partial.
  if (active)
#pragma unroll
    for (int g = 0; g < GMAX; ++g)
#pragma unroll
      for (int e = 0; e < kVec; ++e) s_red[(grp * GMAX + g) * D + r * kVec + e] = acc[g][e];
  __syncthreads();
  const int64_t hq0 = b * a.q_heads + static_cast<int64_t>(kvh) * G;
  for (int idx = tid; idx < G * D; idx += kThreads) {
    const int g = idx / D, dim = idx % D;
    float sum = 0.f;
#pragma unroll
    for (int gr = 0; gr < kGroups; ++gr) sum += s_red[(gr * GMAX + g) * D + dim];
    a.part_acc[((hq0 + g) * splits + split) * D + dim] = sum;
  }
  if (tid < G) {
    a.part_ml[((hq0 + tid) * splits + split) * 2] = s_m[tid];
    a.part_ml[((hq0 + tid) * splits + split) * 2 + 1] = s_l[tid];
  }
}

// One block per (query head, sequence): out = sum_s 2^(m_s - M) acc_s / sum_s 2^(m_s - M) l_s.
// The split weights are computed once into shared memory by all threads together; each thread
// then sums one output dimension over the splits with independent loads in flight (a serial
// loop over splits with a max pass first was latency-bound: 23 us per layer at 45 splits).
constexpr int kMergeThreads = 128, kMaxSplits = 256;

template <typename T>
__global__ void __launch_bounds__(kMergeThreads) decode_attention_merge_kernel(DecodeAttentionArgs a) {
  const int64_t h = blockIdx.x, b = blockIdx.y, D = a.head_dim;
  const int splits = static_cast<int>(a.splits);
  const int64_t row = b * a.q_heads + h;
  const float* ml = a.part_ml + row * splits * 2;
  __shared__ float s_w[kMaxSplits];
  __shared__ float s_red[kMergeThreads / 32];
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  float mx = -CUDART_INF_F;
  for (int s = tid; s < splits; s += kMergeThreads) mx = fmaxf(mx, ml[2 * s]);
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  if (lane == 0) s_red[warp] = mx;
  __syncthreads();
  float M = s_red[0];
#pragma unroll
  for (int w = 1; w < kMergeThreads / 32; ++w) M = fmaxf(M, s_red[w]);
  __syncthreads();  // s_red is reused for the denominator
  float den = 0.f;
  for (int s = tid; s < splits; s += kMergeThreads) {
    const float m = ml[2 * s];
    const float w = m == -CUDART_INF_F ? 0.f : exp2f(m - M);  // a split with no rows weighs 0
    s_w[s] = w;
    den = fmaf(w, ml[2 * s + 1], den);
  }
  for (int o = 16; o > 0; o >>= 1) den += __shfl_xor_sync(0xffffffffu, den, o);
  if (lane == 0) s_red[warp] = den;
  __syncthreads();
  den = 0.f;
#pragma unroll
  for (int w = 0; w < kMergeThreads / 32; ++w) den += s_red[w];
  const float inv = den > 0.f ? 1.f / den : 0.f;
  const float* acc = a.part_acc + row * splits * D;
  T* out = static_cast<T*>(a.out) + b * a.out_bstride + h * D;
  for (int64_t dim = tid; dim < D; dim += kMergeThreads) {
    float num = 0.f;
#pragma unroll 8
    for (int s = 0; s < splits; ++s) num = fmaf(s_w[s], acc[s * D + dim], num);
    out[dim] = from_f<T>(num * inv);
  }
}

using SplitKernel = void (*)(DecodeAttentionArgs);

template <typename T, int D>
SplitKernel split_kernel_for(int64_t G) {
  if (G <= 1) return decode_attention_split_kernel<T, D, 1>;
  if (G <= 2) return decode_attention_split_kernel<T, D, 2>;
  if (G <= 4) return decode_attention_split_kernel<T, D, 4>;
  return decode_attention_split_kernel<T, D, 8>;
}

template <typename T>
SplitKernel split_kernel_for(int64_t D, int64_t G) {
  switch (D) {
    case 64: return split_kernel_for<T, 64>(G);
    case 80: return split_kernel_for<T, 80>(G);
    case 96: return split_kernel_for<T, 96>(G);
    case 128: return split_kernel_for<T, 128>(G);
    default: throw std::runtime_error("decode_attention: head_dim not instantiated");
  }
}

template <typename T>
void launch_t(const DecodeAttentionArgs& a, KernelStream s) {
  const dim3 grid(static_cast<unsigned>(a.splits), static_cast<unsigned>(a.kv_heads),
                  static_cast<unsigned>(a.batch));
  split_kernel_for<T>(a.head_dim, a.q_heads / a.kv_heads)<<<grid, kThreads, 0, s>>>(a);
  check_cuda_launch("decode_attention_split");
  const dim3 mgrid(static_cast<unsigned>(a.q_heads), static_cast<unsigned>(a.batch));
  decode_attention_merge_kernel<T><<<mgrid, kMergeThreads, 0, s>>>(a);
  check_cuda_launch("decode_attention_merge");
}

}  // namespace

bool decode_attention_supported(int64_t head_dim, int64_t group) {
  return (head_dim == 64 || head_dim == 80 || head_dim == 96 || head_dim == 128) && group >= 1 &&
         group <= 8;
}

void launch_decode_attention(KernelDType dt, const DecodeAttentionArgs& a, KernelStream s) {
  if (a.batch == 0) return;
  dispatch_dtype(dt, [&](auto tag) { launch_t<decltype(tag)>(a, s); });
}

int decode_attention_blocks_per_sm(KernelDType dt, int64_t head_dim, int64_t group) {
  int n = 0;
  dispatch_dtype(dt, [&](auto tag) {
    const SplitKernel k = split_kernel_for<decltype(tag)>(head_dim, group);
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, k, kThreads, 0) != cudaSuccess) n = 0;
  });
  return n > 0 ? n : 1;
}

}  // namespace kvsvd
