#include "mpi/nccl.h"

#if KVSVD_HAVE_NCCL
#include "core/util/error.h"
#include "mpi/abort.h"

namespace kvsvd {

namespace {

// Restores the caller's current device on scope exit (NCCL/CUDA calls below switch it).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    KVSVD_CUDA_CHECK(cudaGetDevice(&saved_));
    KVSVD_CUDA_CHECK(cudaSetDevice(device));
  }
  ~DeviceScope() { cudaSetDevice(saved_); }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int saved_ = 0;
};

}  // namespace

void nccl_call_failed(ncclResult_t code, const char* call, const char* file, int line) {
  std::string detail = ncclGetErrorString(code);
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  const char* last = ncclGetLastError(nullptr);
  if (last && *last) detail += cat(" (", last, ")");
#endif
  abort_job(cat("NCCL call failed at ", file, ":", line, ": ", call, ": ", detail));
}

void cuda_call_failed(cudaError_t code, const char* call, const char* file, int line) {
  abort_job(cat("CUDA call failed at ", file, ":", line, ": ", call, ": ",
                cudaGetErrorName(code), ": ", cudaGetErrorString(code)));
}

NcclComm::NcclComm(MPI_Comm mpi, int device) : device_(device) {
  KVSVD_MPI_CHECK(MPI_Comm_rank(mpi, &rank_));
  KVSVD_MPI_CHECK(MPI_Comm_size(mpi, &size_));
  ncclUniqueId id;
  if (rank_ == 0) KVSVD_NCCL_CHECK(ncclGetUniqueId(&id));
  KVSVD_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, mpi));
  DeviceScope scope(device_);
  KVSVD_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
  KVSVD_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
  KVSVD_CUDA_CHECK(cudaEventCreateWithFlags(&ready_, cudaEventDisableTiming));
  KVSVD_CUDA_CHECK(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming));
}

NcclComm::~NcclComm() {
  int saved = 0;
  cudaGetDevice(&saved);
  cudaSetDevice(device_);
  if (comm_) ncclCommDestroy(comm_);
  if (done_) cudaEventDestroy(done_);
  if (ready_) cudaEventDestroy(ready_);
  if (stream_) cudaStreamDestroy(stream_);
  cudaSetDevice(saved);
}

void NcclComm::wait_for(cudaStream_t producer) const {
  KVSVD_CUDA_CHECK(cudaEventRecord(ready_, producer));
  KVSVD_CUDA_CHECK(cudaStreamWaitEvent(stream_, ready_, 0));
}

void NcclComm::signal_to(cudaStream_t consumer) const {
  KVSVD_CUDA_CHECK(cudaEventRecord(done_, stream_));
  KVSVD_CUDA_CHECK(cudaStreamWaitEvent(consumer, done_, 0));
}

}  // namespace kvsvd

#endif  // KVSVD_HAVE_NCCL
