// NCCL communicator bootstrapped over MPI (rank 0 makes the unique id, MPI_Bcast sends it), with
// its own CUDA stream and the events that order it against the caller's stream.
// Everything here is compiled only in NCCL builds (KVSVD_HAVE_NCCL); other builds see nothing.
#pragma once
#include <mpi.h>

#if KVSVD_HAVE_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>

namespace kvsvd {

// Called by the check macros: abort the job naming the call, file:line, rank and the library's
// own error string (NCCL: ncclGetErrorString and, where available, ncclGetLastError).
[[noreturn]] void nccl_call_failed(ncclResult_t code, const char* call, const char* file,
                                   int line);
[[noreturn]] void cuda_call_failed(cudaError_t code, const char* call, const char* file,
                                   int line);

}  // namespace kvsvd

#define KVSVD_NCCL_CHECK(call)                                                \
  do {                                                                        \
    ncclResult_t kvsvd_nccl_rc_ = (call);                                     \
    if (kvsvd_nccl_rc_ != ncclSuccess)                                        \
      ::kvsvd::nccl_call_failed(kvsvd_nccl_rc_, #call, __FILE__, __LINE__);   \
  } while (0)

#define KVSVD_CUDA_CHECK(call)                                                \
  do {                                                                        \
    cudaError_t kvsvd_cuda_rc_ = (call);                                      \
    if (kvsvd_cuda_rc_ != cudaSuccess)                                        \
      ::kvsvd::cuda_call_failed(kvsvd_cuda_rc_, #call, __FILE__, __LINE__);   \
  } while (0)

namespace kvsvd {

// One NCCL communicator over the ranks of an MPI communicator, bound to one GPU per rank.
// Collectives run on the communicator's own stream; wait_for()/signal_to() order that stream
// against the caller's stream with events (no host synchronisation).
class NcclComm {
 public:
  // Collective over `mpi`. `device` is this rank's GPU (see gpu_index_for in gpu-binding.h);
  // NCCL needs a distinct GPU per rank of a node.
  NcclComm(MPI_Comm mpi, int device);
  ~NcclComm();  // ncclCommDestroy, then the stream and events
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  ncclComm_t get() const { return comm_; }
  int device() const { return device_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  cudaStream_t stream() const { return stream_; }

  // Work enqueued later on stream() starts after the work enqueued so far on `producer`.
  void wait_for(cudaStream_t producer) const;
  // Work enqueued later on `consumer` starts after the work enqueued so far on stream().
  void signal_to(cudaStream_t consumer) const;

 private:
  ncclComm_t comm_ = nullptr;
  int device_ = -1;
  int rank_ = 0;
  int size_ = 1;
  cudaStream_t stream_ = nullptr;
  cudaEvent_t ready_ = nullptr;  // recorded on the producer
  cudaEvent_t done_ = nullptr;   // recorded on stream_
};

}  // namespace kvsvd

#endif  // KVSVD_HAVE_NCCL
