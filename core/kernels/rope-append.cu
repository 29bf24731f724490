// RoPE from a precomputed cos/sin table on one decode token's q and k, with k and v appended to
// the cache at the token's position: one block per (sequence, head), one thread per rotated pair.
#include "core/kernels/cuda-check.cuh"
#include "core/kernels/kernel-types.cuh"

namespace kvsvd {
namespace {

// Rotates x's pair (i, i + half) with transformers' rounding: x*cos and rotate_half(x)*sin each
// rounded to T, then their sum.
template <typename T>
__device__ __forceinline__ void rotate_pair(const T* x, const T* c, const T* s, int64_t i,
                                            int64_t half, T* y) {
  const float x1 = to_f(x[i]), x2 = to_f(x[i + half]);
  const float a1 = round_to<T>(x1 * to_f(c[i])), b1 = round_to<T>(-x2 * to_f(s[i]));
  const float a2 = round_to<T>(x2 * to_f(c[i + half])), b2 = round_to<T>(x1 * to_f(s[i + half]));
  y[i] = from_f<T>(a1 + b1);
  y[i + half] = from_f<T>(a2 + b2);
}

template <typename T>
__global__ void rope_append_kernel(RopeAppendArgs a) {
  const int64_t b = blockIdx.y, head = blockIdx.x, d = a.head_dim, half = d / 2;
  const int64_t pos = a.positions[b];
  if (pos < 0 || pos >= a.capacity || pos >= a.table_rows) return;
  const T* c = static_cast<const T*>(a.cos) + pos * d;
  const T* s = static_cast<const T*>(a.sin) + pos * d;
  if (head < a.q_heads) {
    const T* x = static_cast<const T*>(a.q) + b * a.q_bstride + head * d;
    T* y = static_cast<T*>(a.q_out) + (b * a.q_heads + head) * d;
    for (int64_t i = threadIdx.x; i < half; i += blockDim.x) rotate_pair(x, c, s, i, half, y);
    return;
  }
  const int64_t kh = head - a.q_heads;
  const int64_t row = ((b * a.kv_heads + kh) * a.capacity + pos) * d;
  const T* x = static_cast<const T*>(a.k) + b * a.k_bstride + kh * d;
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x)
    rotate_pair(x, c, s, i, half, static_cast<T*>(a.k_cache) + row);
  const T* v = static_cast<const T*>(a.v) + b * a.v_bstride + kh * d;
  T* vc = static_cast<T*>(a.v_cache) + row;
  for (int64_t i = threadIdx.x; i < d; i += blockDim.x) vc[i] = v[i];
}

}  // namespace

void launch_rope_append(KernelDType dt, const RopeAppendArgs& a, KernelStream s) {
  if (a.batch == 0) return;
  const dim3 grid(static_cast<unsigned>(a.q_heads + a.kv_heads), static_cast<unsigned>(a.batch));
  const unsigned threads = a.head_dim / 2 >= 64 ? 64 : 32;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    rope_append_kernel<T><<<grid, threads, 0, s>>>(a);
  });
  check_cuda_launch("rope_append");
}

}  // namespace kvsvd
