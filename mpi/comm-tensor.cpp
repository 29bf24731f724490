// Tensor collectives of Comm: NCCL between GPUs when every rank can, else MPI on host copies.
#include <ATen/ATen.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "core/util/error.h"
#include "mpi/abort.h"
#include "mpi/comm.h"
#include "mpi/gpu-binding.h"

#if KVSVD_HAVE_NCCL
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "mpi/nccl.h"
#endif

namespace kvsvd {

namespace {

// Stable dtype codes exchanged between ranks (independent of c10's enum numbering).
int64_t dtype_code(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return 1;
    case at::kDouble: return 2;
    case at::kHalf: return 3;
    case at::kBFloat16: return 4;
    case at::kLong: return 5;
    case at::kInt: return 6;
    case at::kByte: return 7;
    case at::kChar: return 8;
    case at::kBool: return 9;
    default: break;
  }
  fail(cat("tensor collective: unsupported dtype ", t));
}

at::ScalarType dtype_of_code(int64_t c) {
  switch (c) {
    case 1: return at::kFloat;
    case 2: return at::kDouble;
    case 3: return at::kHalf;
    case 4: return at::kBFloat16;
    case 5: return at::kLong;
    case 6: return at::kInt;
    case 7: return at::kByte;
    case 8: return at::kChar;
    case 9: return at::kBool;
    default: break;
  }
  fail(cat("tensor collective: unknown dtype code ", c));
}

// MPI reduction type for a dtype that MPI can sum natively; MPI_DATATYPE_NULL otherwise
// (half types are summed in float32 and converted back).
MPI_Datatype mpi_sum_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kLong: return MPI_INT64_T;
    case at::kInt: return MPI_INT32_T;
    default: return MPI_DATATYPE_NULL;
  }
}

// All ranks agree that `t`'s dtype (and, with `same_numel`, element count) matches root's;
// otherwise every rank throws the same error (no rank is left in a collective alone).
void check_agreement(const Comm& comm, const at::Tensor& t, bool same_numel, const char* what) {
  std::vector<int64_t> mine = {dtype_code(t.scalar_type()), same_numel ? t.numel() : 0};
  std::vector<int64_t> root = mine;
  comm.broadcast(root, 0);
  bool ok = comm.all_of(mine == root);
  KVSVD_CHECK(ok, what, ": tensors differ between ranks in dtype", same_numel ? " or size" : "",
              " (rank ", comm.rank(), ": dtype code ", mine[0], ", ", mine[1],
              " elements; rank 0: dtype code ", root[0], ", ", root[1], " elements)");
}

// Host path: contiguous CPU copy, MPI_Allreduce in place, copied back into `t`.
void mpi_allreduce(MPI_Comm comm, at::Tensor& t) {
  at::ScalarType st = t.scalar_type();
  MPI_Datatype type = mpi_sum_type(st);
  at::Tensor host = type == MPI_DATATYPE_NULL ? t.to(at::kCPU, at::kFloat).contiguous()
                                              : t.to(at::kCPU).contiguous();
  if (type == MPI_DATATYPE_NULL) type = MPI_FLOAT;
  // .to() may alias `t` when it is already a contiguous CPU tensor of that dtype: in place then.
  const int64_t n = host.numel();
  const int64_t max_count = INT_MAX / 2;
  char* base = static_cast<char*>(host.data_ptr());
  const int64_t es = static_cast<int64_t>(host.element_size());
  for (int64_t off = 0; off < n; off += max_count) {
    int count = static_cast<int>(std::min(max_count, n - off));
    KVSVD_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, base + off * es, count, type, MPI_SUM, comm));
  }
  if (!host.is_same(t)) t.copy_(host);
}

#if KVSVD_HAVE_NCCL
ncclDataType_t nccl_type(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return ncclFloat32;
    case at::kDouble: return ncclFloat64;
    case at::kHalf: return ncclFloat16;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0)
    case at::kBFloat16: return ncclBfloat16;
#endif
    case at::kLong: return ncclInt64;
    case at::kInt: return ncclInt32;
    case at::kByte: return ncclUint8;
    case at::kChar: return ncclInt8;
    case at::kBool: return ncclUint8;
    default: break;
  }
  fail(cat("NCCL: unsupported dtype ", t));
}

cudaStream_t current_stream(int device) {
  return c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(device)).stream();
}

void check_on_comm_device(const NcclComm& nc, const at::Tensor& t, const char* what) {
  KVSVD_CHECK(t.get_device() == nc.device(), what, ": tensor on cuda:", t.get_device(),
              " but this rank's NCCL communicator is bound to cuda:", nc.device(),
              " (keep a rank's tensors on its own GPU)");
}
#endif

}  // namespace

bool Comm::use_nccl_for(const at::Tensor& t) const {
  // Every rank must take the same path, so the decision is all-reduced.
  const bool all_cuda = all_of(t.is_cuda());
  last_used_nccl_ = false;
  if (!all_cuda) return false;
#if KVSVD_HAVE_NCCL
  if (nccl_usable_ < 0) {
    const char* off = std::getenv("KVSVD_DISABLE_NCCL");
    bool ok = !(off && *off && std::strcmp(off, "0") != 0);
    // NCCL needs one GPU per rank: a node with fewer GPUs than ranks uses the host path.
    MPI_Comm node = MPI_COMM_NULL;
    KVSVD_MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
    int local_size = 1;
    KVSVD_MPI_CHECK(MPI_Comm_size(node, &local_size));
    KVSVD_MPI_CHECK(MPI_Comm_free(&node));
    if (visible_gpu_count() < local_size) ok = false;
    ok = all_of(ok);
    nccl_usable_ = ok ? 1 : 0;
    if (ok) nccl_ = std::make_shared<NcclComm>(comm_, t.get_device());
  }
  last_used_nccl_ = nccl_usable_ == 1;
  return last_used_nccl_;
#else
  return false;
#endif
}

void Comm::allreduce_sum(at::Tensor& t) const {
  check_agreement(*this, t, true, "allreduce_sum");
  if (t.numel() == 0) return;
  if (use_nccl_for(t)) {
#if KVSVD_HAVE_NCCL
    const NcclComm& nc = *nccl_;
    check_on_comm_device(nc, t, "allreduce_sum");
    c10::cuda::CUDAGuard guard(t.device());
    at::Tensor work = t.is_contiguous() ? t : t.contiguous();
    cudaStream_t cur = current_stream(nc.device());
    nc.wait_for(cur);  // `work` is ready (its producer and the contiguous copy ran on `cur`)
    KVSVD_NCCL_CHECK(ncclAllReduce(work.data_ptr(), work.data_ptr(),
                                   static_cast<size_t>(work.numel()),
                                   nccl_type(work.scalar_type()), ncclSum, nc.get(),
                                   nc.stream()));
    nc.signal_to(cur);  // later work on `cur` (and frees of `work`) wait for the reduction
    if (!work.is_same(t)) t.copy_(work);
#endif
    return;
  }
  mpi_allreduce(comm_, t);
}

void Comm::broadcast(at::Tensor& t, int root) const {
  check_agreement(*this, t, true, "broadcast");
  if (t.numel() == 0) return;
  if (use_nccl_for(t)) {
#if KVSVD_HAVE_NCCL
    const NcclComm& nc = *nccl_;
    check_on_comm_device(nc, t, "broadcast");
    c10::cuda::CUDAGuard guard(t.device());
    at::Tensor work = t.is_contiguous() ? t : t.contiguous();
    cudaStream_t cur = current_stream(nc.device());
    nc.wait_for(cur);
    KVSVD_NCCL_CHECK(ncclBroadcast(work.data_ptr(), work.data_ptr(),
                                   static_cast<size_t>(work.numel()),
                                   nccl_type(work.scalar_type()), root, nc.get(), nc.stream()));
    nc.signal_to(cur);
    if (!work.is_same(t)) t.copy_(work);
#endif
    return;
  }
  at::Tensor host = t.to(at::kCPU).contiguous();
  detail::broadcast_raw(comm_, host.data_ptr(), host.numel(), host.element_size(), root);
  if (!host.is_same(t)) t.copy_(host);
}

std::vector<at::Tensor> Comm::gather(const at::Tensor& t, int root) const {
  check_agreement(*this, t, false, "gather");
  // Shapes first (they may differ per rank): [ndim, dims...] per rank.
  std::vector<int64_t> meta = {t.dim()};
  for (int64_t d : t.sizes()) meta.push_back(d);
  std::vector<std::vector<int64_t>> metas = gather(meta, root);
  std::vector<std::vector<int64_t>> shapes;
  for (const auto& m : metas) shapes.emplace_back(m.begin() + 1, m.end());

  std::vector<at::Tensor> out;
  if (use_nccl_for(t)) {
#if KVSVD_HAVE_NCCL
    const NcclComm& nc = *nccl_;
    check_on_comm_device(nc, t, "gather");
    c10::cuda::CUDAGuard guard(t.device());
    at::Tensor work = t.contiguous();
    cudaStream_t cur = current_stream(nc.device());
    if (rank_ == root) {
      for (int r = 0; r < size_; ++r) {
        out.push_back(r == root ? work.clone() : at::empty(shapes[r], t.options()));
      }
    }
    nc.wait_for(cur);  // the receive buffers and `work` were made on `cur`
    const ncclDataType_t type = nccl_type(t.scalar_type());
    KVSVD_NCCL_CHECK(ncclGroupStart());
    if (rank_ == root) {
      for (int r = 0; r < size_; ++r) {
        if (r == root || out[r].numel() == 0) continue;
        KVSVD_NCCL_CHECK(ncclRecv(out[r].data_ptr(), static_cast<size_t>(out[r].numel()), type, r,
                                  nc.get(), nc.stream()));
      }
    } else if (work.numel() > 0) {
      KVSVD_NCCL_CHECK(ncclSend(work.data_ptr(), static_cast<size_t>(work.numel()), type, root,
                                nc.get(), nc.stream()));
    }
    KVSVD_NCCL_CHECK(ncclGroupEnd());
    nc.signal_to(cur);
#endif
    return out;
  }
  at::Tensor host = t.to(at::kCPU).contiguous();
  std::vector<int64_t> counts;
  std::vector<char> all = detail::gatherv_raw(comm_, host.data_ptr(), host.numel(),
                                              host.element_size(), root, &counts);
  if (rank_ != root) return out;
  size_t off = 0;
  for (int r = 0; r < size_; ++r) {
    at::Tensor part = at::empty(shapes[r], host.options());
    const size_t bytes = static_cast<size_t>(part.numel()) * part.element_size();
    KVSVD_ASSERT(counts[r] == part.numel(), "gather: rank ", r, " sent ", counts[r],
                 " elements for shape of ", part.numel());
    if (bytes > 0) std::memcpy(part.data_ptr(), all.data() + off, bytes);
    off += bytes;
    out.push_back(t.is_cuda() ? part.to(t.device()) : part);
  }
  return out;
}

at::Tensor Comm::reduce_ordered_sum(const at::Tensor& partial) const {
  check_agreement(*this, partial, true, "reduce_ordered_sum");
  std::vector<at::Tensor> parts = gather(partial, 0);
  at::Tensor sum;
  if (rank_ == 0) {
    sum = parts[0].clone();
    for (int r = 1; r < size_; ++r) {
      KVSVD_CHECK(parts[r].sizes() == sum.sizes(), "reduce_ordered_sum: rank ", r,
                  " gave a tensor of shape ", parts[r].sizes(), ", rank 0 of ", sum.sizes());
      sum.add_(parts[r]);  // rank order: the same additions in the same order on every run
    }
  } else {
    sum = at::empty_like(partial);
  }
  if (!sum.is_contiguous()) sum = sum.contiguous();
  broadcast(sum, 0);
  return sum;
}

}  // namespace kvsvd
