// A duplicated MPI communicator with typed collectives (counts in elements, never bytes), tensor
// collectives (NCCL between GPUs when every rank has one, else MPI on host copies), and
// deterministic ordered reductions.
//
// Why ordered reductions: floating-point addition is not associative, so MPI_Allreduce (and
// NCCL) results depend on how many ranks there are and which rank held what. A number that is
// stored (a profile moment, a perplexity) must not change with the rank count. It only stays
// bitwise identical across shardings when the SAME partials are summed in the SAME canonical
// order: give each work item (a calibration window, an evaluation window) a global index, keep
// one partial per item, gather them to rank 0 sorted by index (gather_indexed), sum them there
// in index order (reduce_indexed_sum), then broadcast. reduce_ordered_sum over per-RANK partials
// is reproducible for a fixed rank count only, because the partials themselves depend on it.
#pragma once
#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace at {
class Tensor;  // callers of the tensor collectives include <ATen/ATen.h> themselves
}

namespace kvsvd {

class NcclComm;  // mpi/nccl.h (defined only in NCCL builds)

// One work item's contribution to an ordered reduction.
struct IndexedItem {
  int64_t index = 0;           // global index (window number, layer number, ...)
  std::vector<double> values;  // same width for every item of one reduction
};

namespace detail {
// Byte-level helpers behind the typed templates; `elem_size` bytes per element, counts in
// elements. Large buffers are split so that no MPI count exceeds INT_MAX.
void broadcast_raw(MPI_Comm comm, void* data, int64_t count, size_t elem_size, int root);
// Gathers `count` elements from every rank; on root returns the concatenation in rank order and
// fills `counts` (elements per rank); elsewhere returns an empty buffer.
std::vector<char> gatherv_raw(MPI_Comm comm, const void* data, int64_t count, size_t elem_size,
                              int root, std::vector<int64_t>* counts);
}  // namespace detail

class Comm {
 public:
  // Duplicates `parent` (MPI_Comm_dup) so that our messages never match anyone else's, and sets
  // MPI_ERRORS_RETURN on the copy so that KVSVD_MPI_CHECK reports errors with their string.
  explicit Comm(MPI_Comm parent = MPI_COMM_WORLD);
  ~Comm();  // MPI_Comm_free (skipped after MPI_Finalize)
  Comm(Comm&& o) noexcept;
  Comm& operator=(Comm&& o) noexcept;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  MPI_Comm get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root(int root = 0) const { return rank_ == root; }

  void barrier() const;

  // ---- host reductions: in place, every rank gets the result (MPI_Allreduce). The result can
  // ---- depend on the rank count in the last bits for floats: see the note at the top.
  void allreduce_sum(std::vector<double>& v) const;
  void allreduce_sum(std::vector<float>& v) const;
  void allreduce_sum(std::vector<int64_t>& v) const;
  double allreduce_sum(double x) const;
  int64_t allreduce_sum(int64_t x) const;
  int64_t allreduce_max(int64_t x) const;
  int64_t allreduce_min(int64_t x) const;
  bool all_of(bool x) const;  // logical and over ranks
  bool any_of(bool x) const;

  // ---- broadcasts from `root`: non-root buffers are resized to the root's length.
  void broadcast(std::string& s, int root = 0) const;
  template <typename T>
  void broadcast(std::vector<T>& v, int root = 0) const {
    static_assert(std::is_trivially_copyable<T>::value, "broadcast needs trivially copyable T");
    int64_t n = static_cast<int64_t>(v.size());
    detail::broadcast_raw(comm_, &n, 1, sizeof n, root);
    v.resize(static_cast<size_t>(n));
    detail::broadcast_raw(comm_, v.data(), n, sizeof(T), root);
  }
  template <typename T>
  void broadcast_value(T& x, int root = 0) const {
    static_assert(std::is_trivially_copyable<T>::value, "broadcast needs trivially copyable T");
    detail::broadcast_raw(comm_, &x, 1, sizeof(T), root);
  }

  // ---- gathers to `root` (MPI_Gatherv): root gets one entry per rank in rank order, other
  // ---- ranks get an empty vector. Lengths may differ between ranks.
  std::vector<std::string> gather_bytes(const std::string& mine, int root = 0) const;
  template <typename T>
  std::vector<std::vector<T>> gather(const std::vector<T>& mine, int root = 0) const {
    static_assert(std::is_trivially_copyable<T>::value, "gather needs trivially copyable T");
    std::vector<int64_t> counts;
    std::vector<char> all = detail::gatherv_raw(comm_, mine.data(),
                                                static_cast<int64_t>(mine.size()), sizeof(T),
                                                root, &counts);
    std::vector<std::vector<T>> out;
    if (rank_ != root) return out;
    size_t off = 0;
    for (int64_t c : counts) {
      std::vector<T> part(static_cast<size_t>(c));
      if (c > 0) std::memcpy(part.data(), all.data() + off, static_cast<size_t>(c) * sizeof(T));
      off += static_cast<size_t>(c) * sizeof(T);
      out.push_back(std::move(part));
    }
    return out;
  }

  // ---- deterministic reductions (see the note at the top) ----
  // Per-rank partials of equal length summed on rank 0 in rank order (in double), then
  // broadcast: identical on every rank and across reruns with the same rank count.
  std::vector<double> reduce_ordered_sum(const std::vector<double>& partial) const;
  // Every rank's items gathered to `root`, sorted by global index (an index given by two items
  // is an error). Non-root ranks get an empty vector.
  std::vector<IndexedItem> gather_indexed(const std::vector<IndexedItem>& mine,
                                          int root = 0) const;
  // The sum of all items' values (each of length `width`) added on rank 0 in ascending index
  // order, starting from zeros, then broadcast: bitwise identical for any rank count and any
  // distribution of the items over ranks.
  std::vector<double> reduce_indexed_sum(const std::vector<IndexedItem>& mine,
                                         size_t width) const;

  // ---- tensor collectives (mpi/comm-tensor.cpp). Collective: every rank calls with a tensor
  // ---- of the same dtype (and, for allreduce/broadcast, the same number of elements).
  // NCCL is used when this is an NCCL build, every rank's tensor is on CUDA, each node has at
  // least as many GPUs as ranks, and KVSVD_DISABLE_NCCL is unset; the NCCL communicator is made
  // on the first such call, on the tensor's device. Otherwise host copies go through MPI.
  // t: any shape, any device; summed in place.
  void allreduce_sum(at::Tensor& t) const;
  // t: any shape, any device; replaced in place by root's tensor (same numel and dtype).
  void broadcast(at::Tensor& t, int root = 0) const;
  // t: any shape (may differ per rank), same dtype on every rank. Root gets every rank's tensor
  // in rank order, on the device of its own input; other ranks get an empty vector.
  std::vector<at::Tensor> gather(const at::Tensor& t, int root = 0) const;
  // partial: same shape on every rank. Sum of the per-rank partials, added on rank 0 in rank
  // order in the tensor's dtype, then broadcast (reproducible for a fixed rank count).
  at::Tensor reduce_ordered_sum(const at::Tensor& partial) const;

  // Whether the last tensor collective used NCCL (diagnostics and tests).
  bool last_used_nccl() const { return last_used_nccl_; }

 private:
  bool use_nccl_for(const at::Tensor& t) const;  // collective: all ranks agree
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  mutable std::shared_ptr<NcclComm> nccl_;  // created lazily, destroyed with the Comm
  mutable int nccl_usable_ = -1;            // -1 undecided, 0 no, 1 yes (decided once)
  mutable bool last_used_nccl_ = false;
};

}  // namespace kvsvd
