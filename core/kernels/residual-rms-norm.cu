// Fused residual add + RMSNorm: one block per row, the row read twice (the second time from L1/L2).
#include <cstdint>

#include "core/kernels/cuda-check.cuh"
#include "core/kernels/kernel-types.cuh"

namespace kvsvd {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads) residual_rms_norm_kernel(
    T* __restrict__ h, const T* __restrict__ delta, const T* __restrict__ weight,
    T* __restrict__ out, int64_t hidden, float eps) {
  const int64_t row = blockIdx.x;
  T* hr = h + row * hidden;
  const T* dr = delta ? delta + row * hidden : nullptr;
  float sq = 0.f;
  for (int64_t i = threadIdx.x; i < hidden; i += kThreads) {
    float x = to_f(hr[i]);
    if (dr) {
      x = round_to<T>(x + to_f(dr[i]));  // the residual stream is stored in T
      hr[i] = from_f<T>(x);
    }
    sq += x * x;
  }
  __shared__ float warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = sq;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
  const float r = rsqrtf(total / static_cast<float>(hidden) + eps);
  T* orow = out + row * hidden;
  // Each thread re-reads only the elements it wrote itself: no barrier needed.
  for (int64_t i = threadIdx.x; i < hidden; i += kThreads) {
    const float xn = round_to<T>(to_f(hr[i]) * r);  // normalised value cast back, as transformers
    orow[i] = from_f<T>(to_f(weight[i]) * xn);
  }
}

// The same with 16-byte accesses and the row held in registers between the two passes (a row of
// up to kThreads * kVecs * 16 bytes): one read of h and delta, one write of h and out.
template <typename T, int kVecs>
__global__ void __launch_bounds__(kThreads) residual_rms_norm_vec_kernel(
    T* __restrict__ h, const T* __restrict__ delta, const T* __restrict__ weight,
    T* __restrict__ out, int64_t hidden, float eps) {
  constexpr int kVec = 16 / sizeof(T);
  const int64_t row = blockIdx.x;
  T* hr = h + row * hidden;
  const T* dr = delta ? delta + row * hidden : nullptr;
  float x[kVecs][kVec];
  float sq = 0.f;
#pragma unroll
  for (int v = 0; v < kVecs; ++v) {
    const int64_t i = (static_cast<int64_t>(v) * kThreads + threadIdx.x) * kVec;
    if (i >= hidden) break;
    uint4 hraw = *reinterpret_cast<const uint4*>(hr + i);
    T* he = reinterpret_cast<T*>(&hraw);
    if (dr) {
      const uint4 draw = *reinterpret_cast<const uint4*>(dr + i);
      const T* de = reinterpret_cast<const T*>(&draw);
#pragma unroll
      for (int e = 0; e < kVec; ++e) he[e] = from_f<T>(to_f(he[e]) + to_f(de[e]));
      *reinterpret_cast<uint4*>(hr + i) = hraw;
    }
#pragma unroll
    for (int e = 0; e < kVec; ++e) {
      x[v][e] = to_f(he[e]);
      sq += x[v][e] * x[v][e];
    }
  }
  __shared__ float warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
  if ((threadIdx.x & 31) == 0) warp_sums[threadIdx.x >> 5] = sq;
  __syncthreads();
  float total = 0.f;
#pragma unroll
  for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
  const float r = rsqrtf(total / static_cast<float>(hidden) + eps);
  T* orow = out + row * hidden;
#pragma unroll
  for (int v = 0; v < kVecs; ++v) {
    const int64_t i = (static_cast<int64_t>(v) * kThreads + threadIdx.x) * kVec;
    if (i >= hidden) break;
    const uint4 wraw = *reinterpret_cast<const uint4*>(weight + i);
    const T* we = reinterpret_cast<const T*>(&wraw);
    uint4 oraw;
    T* oe = reinterpret_cast<T*>(&oraw);
#pragma unroll
    for (int e = 0; e < kVec; ++e) oe[e] = from_f<T>(to_f(we[e]) * round_to<T>(x[v][e] * r));
    *reinterpret_cast<uint4*>(orow + i) = oraw;
  }
}

}  // namespace

void launch_residual_rms_norm(KernelDType dt, void* h, const void* delta, const void* weight,
                              void* out, int64_t rows, int64_t hidden, float eps, KernelStream s) {
  if (rows == 0) return;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    constexpr int64_t kVec = 16 / sizeof(T), kVecs = 4;
    const auto aligned = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    const bool vec = hidden % kVec == 0 && hidden <= kThreads * kVecs * kVec && aligned(h) &&
                     (!delta || aligned(delta)) && aligned(weight) && aligned(out);
    const unsigned grid = static_cast<unsigned>(rows);
    if (vec)
      residual_rms_norm_vec_kernel<T, kVecs><<<grid, kThreads, 0, s>>>(
          static_cast<T*>(h), static_cast<const T*>(delta), static_cast<const T*>(weight),
          static_cast<T*>(out), hidden, eps);
    else
      residual_rms_norm_kernel<T><<<grid, kThreads, 0, s>>>(
          static_cast<T*>(h), static_cast<const T*>(delta), static_cast<const T*>(weight),
          static_cast<T*>(out), hidden, eps);
  });
  check_cuda_launch("residual_rms_norm");
}

}  // namespace kvsvd
