// One GPU per MPI rank: which device a rank uses, and making it the current device.
#pragma once

namespace kvsvd {

// local_rank % device_count (ranks of a node spread over its GPUs); -1 when device_count <= 0.
int gpu_index_for(int local_rank, int device_count);

// CUDA devices visible to this process (0 in builds without CUDA or on machines without GPUs).
int visible_gpu_count();

// Makes gpu_index_for(local_rank, visible_gpu_count()) the current CUDA device (torch follows
// the CUDA runtime's current device) and returns it; returns -1 and does nothing without GPUs.
int bind_rank_gpu(int local_rank);

}  // namespace kvsvd
