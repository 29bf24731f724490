// Skinny GEMM of a decode step at small batch: each warp streams two weight rows with 16-byte
// loads, four per row in flight per lane, and dots them with the M input rows (L1-resident).
#include "core/kernels/cuda-check.cuh"
#include "core/kernels/kernel-types.cuh"

namespace kvsvd {
namespace {

constexpr int kThreads = 256, kWarps = kThreads / 32, kRows = 2, kUnroll = 4;

template <typename T, int M>
__global__ void __launch_bounds__(kThreads) skinny_gemm_kernel(const T* __restrict__ x,
                                                               const T* __restrict__ w,
                                                               T* __restrict__ y, int64_t N,
                                                               int64_t K) {
  constexpr int kVec = 16 / sizeof(T);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t row0 = (static_cast<int64_t>(blockIdx.x) * kWarps + warp) * kRows;
  if (row0 >= N) return;
  float acc[kRows][M];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int m = 0; m < M; ++m) acc[r][m] = 0.f;
  constexpr int64_t kStep = 32 * kVec;  // elements of a row covered by one load per lane
  for (int64_t k0 = lane * kVec; k0 < K; k0 += kStep * kUnroll) {
    uint4 raw[kRows][kUnroll];
#pragma unroll
    for (int r = 0; r < kRows; ++r)
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int64_t k = k0 + u * kStep, row = row0 + r;
        raw[r][u] = (k < K && row < N)
                        ? __ldg(reinterpret_cast<const uint4*>(w + row * K + k))
                        : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t k = k0 + u * kStep;
      if (k >= K) break;
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const uint4 xr = __ldg(reinterpret_cast<const uint4*>(x + m * K + k));
        const T* xe = reinterpret_cast<const T*>(&xr);
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          const T* we = reinterpret_cast<const T*>(&raw[r][u]);
#pragma unroll
          for (int e = 0; e < kVec; ++e) acc[r][m] = fmaf(to_f(xe[e]), to_f(we[e]), acc[r][m]);
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int m = 0; m < M; ++m) {
      float v = acc[r][m];
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0 && row0 + r < N) y[m * N + row0 + r] = from_f<T>(v);
    }
}

template <typename T, int M>
void launch_m(const void* x, const void* w, void* y, int64_t N, int64_t K, KernelStream s) {
  const int64_t rows_per_block = kWarps * kRows;
  const unsigned blocks = static_cast<unsigned>((N + rows_per_block - 1) / rows_per_block);
  skinny_gemm_kernel<T, M><<<blocks, kThreads, 0, s>>>(
      static_cast<const T*>(x), static_cast<const T*>(w), static_cast<T*>(y), N, K);
}

}  // namespace

void launch_skinny_gemm(KernelDType dt, const void* x, const void* w, void* y, int64_t M,
                        int64_t N, int64_t K, KernelStream s) {
  if (M == 0 || N == 0) return;
  dispatch_dtype(dt, [&](auto tag) {
    using T = decltype(tag);
    switch (M) {
      case 1: launch_m<T, 1>(x, w, y, N, K, s); break;
      case 2: launch_m<T, 2>(x, w, y, N, K, s); break;
      case 3: launch_m<T, 3>(x, w, y, N, K, s); break;
      case 4: launch_m<T, 4>(x, w, y, N, K, s); break;
      default: throw std::runtime_error("skinny_gemm: more than 4 rows");
    }
  });
  check_cuda_launch("skinny_gemm");
}

}  // namespace kvsvd
