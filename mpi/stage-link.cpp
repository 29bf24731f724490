// StageLink: MPI_Isend/MPI_Recv on host bytes, or ncclSend/ncclRecv on the link's own stream
// ordered against torch's current stream by events (no host synchronisation on the GPU path).
#include "mpi/stage-link.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "core/util/error.h"
#include "mpi/abort.h"
#include "mpi/gpu-binding.h"

#if KVSVD_HAVE_NCCL
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "mpi/nccl.h"
#endif

namespace kvsvd {
namespace {

constexpr int kTagTensor = 71;
constexpr int kTagValues = 72;
constexpr int64_t kMaxChunk = INT_MAX / 2;  // bytes per MPI call
constexpr size_t kMaxInFlight = 8;          // sends kept in flight before the oldest is awaited

bool nccl_wanted(MPI_Comm comm, at::Device device) {
  int ok = device.is_cuda() ? 1 : 0;
#if KVSVD_HAVE_NCCL
  const char* off = std::getenv("KVSVD_DISABLE_NCCL");
  if (off && *off && std::strcmp(off, "0") != 0) ok = 0;
  MPI_Comm node = MPI_COMM_NULL;
  KVSVD_MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  int local_size = 1;
  KVSVD_MPI_CHECK(MPI_Comm_size(node, &local_size));
  KVSVD_MPI_CHECK(MPI_Comm_free(&node));
  if (visible_gpu_count() < local_size) ok = 0;
#else
  ok = 0;
#endif
  int all = 0;
  KVSVD_MPI_CHECK(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm));
  return all == 1;
}

}  // namespace

struct StageLink::Pending {
  at::Tensor tensor;             // kept alive until the send completes
  std::vector<int64_t> values;
  std::vector<MPI_Request> requests;
#if KVSVD_HAVE_NCCL
  cudaEvent_t done = nullptr;  // recorded on the NCCL stream after the send
#endif
  bool complete(bool wait) {
    if (!requests.empty()) {
      if (wait) {
        KVSVD_MPI_CHECK(MPI_Waitall(static_cast<int>(requests.size()), requests.data(),
                                    MPI_STATUSES_IGNORE));
      } else {
        int flag = 0;
        KVSVD_MPI_CHECK(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &flag,
                                    MPI_STATUSES_IGNORE));
        if (!flag) return false;
      }
      requests.clear();
    }
#if KVSVD_HAVE_NCCL
    if (done) {
      if (wait) {
        KVSVD_CUDA_CHECK(cudaEventSynchronize(done));
      } else if (cudaEventQuery(done) == cudaErrorNotReady) {
        return false;
      }
      cudaEventDestroy(done);
      done = nullptr;
    }
#endif
    return true;
  }
};

StageLink::StageLink(MPI_Comm group, at::Device device) : device_(device) {
  KVSVD_MPI_CHECK(MPI_Comm_dup(group, &comm_));
  KVSVD_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  KVSVD_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  KVSVD_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  if (nccl_wanted(comm_, device_)) {
#if KVSVD_HAVE_NCCL
    nccl_ = std::make_shared<NcclComm>(comm_, device_.index());
#endif
  }
}

StageLink::~StageLink() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  try {
    retire(true, 0);
  } catch (...) {
    // A failed send already aborted the job (the check macros call MPI_Abort).
  }
  nccl_.reset();
  MPI_Comm_free(&comm_);
}

void StageLink::retire(bool wait_all, size_t keep) {
  while (!pending_.empty()) {
    const bool must = wait_all || pending_.size() > keep;
    if (!pending_.front()->complete(must)) return;
    pending_.pop_front();
  }
}

void StageLink::send(const at::Tensor& t, int dst) {
  auto p = std::make_unique<Pending>();
  const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
  bytes_sent_ += bytes;
  ++tensors_sent_;
  if (nccl_) {
#if KVSVD_HAVE_NCCL
    const NcclComm& nc = *nccl_;
    KVSVD_CHECK(t.is_cuda() && t.get_device() == nc.device(), "stage link: tensor on ", t.device(),
                ", this rank's NCCL link is bound to cuda:", nc.device());
    c10::cuda::CUDAGuard guard(t.device());
    p->tensor = t.contiguous();
    const cudaStream_t cur =
        c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(nc.device())).stream();
    nc.wait_for(cur);  // the activation is computed
    KVSVD_NCCL_CHECK(ncclSend(p->tensor.data_ptr(), static_cast<size_t>(bytes), ncclUint8, dst,
                              nc.get(), nc.stream()));
    KVSVD_CUDA_CHECK(cudaEventCreateWithFlags(&p->done, cudaEventDisableTiming));
    KVSVD_CUDA_CHECK(cudaEventRecord(p->done, nc.stream()));
#endif
  } else {
    p->tensor = t.to(at::kCPU).contiguous();  // [numel] bytes as MPI sends them
    const char* base = static_cast<const char*>(p->tensor.data_ptr());
    for (int64_t off = 0; off < bytes; off += kMaxChunk) {
      MPI_Request r;
      KVSVD_MPI_CHECK(MPI_Isend(base + off, static_cast<int>(std::min(kMaxChunk, bytes - off)),
                                MPI_BYTE, dst, kTagTensor, comm_, &r));
      p->requests.push_back(r);
    }
  }
  pending_.push_back(std::move(p));
  retire(false, kMaxInFlight);
}

at::Tensor StageLink::recv(const std::vector<int64_t>& sizes, at::ScalarType dtype, int src) {
  if (nccl_) {
#if KVSVD_HAVE_NCCL
    const NcclComm& nc = *nccl_;
    c10::cuda::CUDAGuard guard(device_);
    at::Tensor out = at::empty(sizes, at::TensorOptions().dtype(dtype).device(device_));
    const cudaStream_t cur =
        c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(nc.device())).stream();
    nc.wait_for(cur);  // `out` is not in use by earlier work on `cur`
    KVSVD_NCCL_CHECK(ncclRecv(out.data_ptr(),
                              static_cast<size_t>(out.numel() * out.element_size()), ncclUint8,
                              src, nc.get(), nc.stream()));
    nc.signal_to(cur);  // later work on `cur` reads the received activation
    return out;
#endif
  }
  const double t0 = MPI_Wtime();
  at::Tensor host = at::empty(sizes, at::TensorOptions().dtype(dtype));
  const int64_t bytes = host.numel() * static_cast<int64_t>(host.element_size());
  char* base = static_cast<char*>(host.data_ptr());
  for (int64_t off = 0; off < bytes; off += kMaxChunk) {
    const int n = static_cast<int>(std::min(kMaxChunk, bytes - off));
    MPI_Status st;
    KVSVD_MPI_CHECK(MPI_Recv(base + off, n, MPI_BYTE, src, kTagTensor, comm_, &st));
    int got = 0;
    KVSVD_MPI_CHECK(MPI_Get_count(&st, MPI_BYTE, &got));
    KVSVD_CHECK(got == n, "stage link: rank ", src, " sent ", got, " bytes where ", n,
                " were expected (stages disagree on an activation's shape)");
  }
  recv_wait_s_ += MPI_Wtime() - t0;
  return device_.is_cpu() ? host : host.to(device_);
}

void StageLink::send_values(const std::vector<int64_t>& v, int dst) {
  auto p = std::make_unique<Pending>();
  p->values = v;
  MPI_Request r;
  KVSVD_MPI_CHECK(MPI_Isend(p->values.data(), static_cast<int>(p->values.size()), MPI_INT64_T, dst,
                            kTagValues, comm_, &r));
  p->requests.push_back(r);
  pending_.push_back(std::move(p));
  retire(false, kMaxInFlight);
}

std::vector<int64_t> StageLink::recv_values(int64_t count, int src) {
  std::vector<int64_t> v(static_cast<size_t>(count));
  const double t0 = MPI_Wtime();
  MPI_Status st;
  KVSVD_MPI_CHECK(MPI_Recv(v.data(), static_cast<int>(count), MPI_INT64_T, src, kTagValues, comm_,
                           &st));
  int got = 0;
  KVSVD_MPI_CHECK(MPI_Get_count(&st, MPI_INT64_T, &got));
  KVSVD_CHECK(got == count, "stage link: rank ", src, " sent ", got, " values where ", count,
              " were expected");
  recv_wait_s_ += MPI_Wtime() - t0;
  return v;
}

void StageLink::flush() { retire(true, 0); }

}  // namespace kvsvd

namespace kvsvd {

std::unique_ptr<StageLink> make_stage_link(MPI_Comm parent, int group, int stage,
                                           at::Device device) {
  MPI_Comm split = MPI_COMM_NULL;
  KVSVD_MPI_CHECK(MPI_Comm_split(parent, group, stage, &split));
  auto link = std::make_unique<StageLink>(split, device);  // keeps its own duplicate
  KVSVD_MPI_CHECK(MPI_Comm_free(&split));
  return link;
}

}  // namespace kvsvd
