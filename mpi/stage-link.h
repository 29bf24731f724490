// Point-to-point transfers between the ranks of one pipeline group: activations (tensors, NCCL
// send/recv between GPUs, MPI on host tensors) and small control values (MPI). Sends return at
// once and complete in order; each stays alive until the transfer is done.
#pragma once
#include <ATen/ATen.h>
#include <mpi.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

namespace kvsvd {

class NcclComm;  // mpi/nccl.h (NCCL builds only)

class StageLink {
 public:
  // Collective over `group` (every rank of the group passes its compute device). NCCL carries the
  // tensors when this is an NCCL build, every rank computes on CUDA, each node has a GPU per rank
  // and KVSVD_DISABLE_NCCL is unset; the decision is the same on every rank.
  StageLink(MPI_Comm group, at::Device device);
  ~StageLink();  // finishes the sends still in flight
  StageLink(const StageLink&) = delete;
  StageLink& operator=(const StageLink&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool uses_nccl() const { return nccl_ != nullptr; }

  // t: any shape and dtype on this rank's device; the receiver names the same shape and dtype.
  void send(const at::Tensor& t, int dst);
  // A new tensor of `sizes` x `dtype` on this rank's device, holding what `src` sent.
  at::Tensor recv(const std::vector<int64_t>& sizes, at::ScalarType dtype, int src);
  // Small host values (control, counters): counts in elements.
  void send_values(const std::vector<int64_t>& v, int dst);
  std::vector<int64_t> recv_values(int64_t count, int src);
  // Waits until every send so far has completed.
  void flush();

  // Counters for the run's log: activation bytes and tensors sent, and host seconds spent
  // blocked in a receive (on the NCCL path the host does not block: the stream waits instead).
  int64_t tensor_bytes_sent() const { return bytes_sent_; }
  int64_t tensors_sent() const { return tensors_sent_; }
  double recv_wait_seconds() const { return recv_wait_s_; }

 private:
  struct Pending;
  void retire(bool wait_all, size_t keep);
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  at::Device device_;
  std::shared_ptr<NcclComm> nccl_;
  std::deque<std::unique_ptr<Pending>> pending_;
  int64_t bytes_sent_ = 0;
  int64_t tensors_sent_ = 0;
  double recv_wait_s_ = 0;
};

}  // namespace kvsvd

namespace kvsvd {

// The link of this rank's group: ranks of `parent` with the same `group` form one link, ordered
// by `stage` (collective over `parent`).
std::unique_ptr<StageLink> make_stage_link(MPI_Comm parent, int group, int stage, at::Device device);

}  // namespace kvsvd
