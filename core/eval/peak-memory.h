// Peak memory of a measured span: the CUDA caching allocator's peak allocated bytes on a GPU,
// else the process's peak resident set size (which can only grow, so on the CPU it is the peak
// since the process started, not since the reset).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace kvsvd {

// Starts a new span on `device` (resets the allocator's peak on CUDA; nothing on the CPU).
void reset_peak_memory(at::Device device);
// Bytes: CUDA max_memory_allocated of `device` since the last reset, or max RSS of the process.
int64_t peak_memory_bytes(at::Device device);

}  // namespace kvsvd
