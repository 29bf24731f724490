#include "mpi/comm.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "core/util/error.h"
#include "mpi/abort.h"
#include "mpi/wire.h"

namespace kvsvd {

namespace {

// Largest element count passed to one MPI call (counts are int).
constexpr int64_t kMaxCount = INT_MAX / 2;

bool mpi_finalized() {
  int f = 0;
  MPI_Finalized(&f);
  return f != 0;
}

// A contiguous datatype of `elem_size` bytes, so that counts stay in elements.
class ElemType {
 public:
  explicit ElemType(size_t elem_size) {
    KVSVD_MPI_CHECK(MPI_Type_contiguous(static_cast<int>(elem_size), MPI_BYTE, &type_));
    KVSVD_MPI_CHECK(MPI_Type_commit(&type_));
  }
  ~ElemType() { MPI_Type_free(&type_); }
  ElemType(const ElemType&) = delete;
  ElemType& operator=(const ElemType&) = delete;
  MPI_Datatype get() const { return type_; }

 private:
  MPI_Datatype type_ = MPI_DATATYPE_NULL;
};

template <typename T>
void allreduce_in_place(MPI_Comm comm, T* data, int64_t n, MPI_Datatype type, MPI_Op op) {
  for (int64_t off = 0; off < n; off += kMaxCount) {
    int count = static_cast<int>(std::min(kMaxCount, n - off));
    KVSVD_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, data + off, count, type, op, comm));
  }
}

template <typename T>
T allreduce_scalar(MPI_Comm comm, T x, MPI_Datatype type, MPI_Op op) {
  T out{};
  KVSVD_MPI_CHECK(MPI_Allreduce(&x, &out, 1, type, op, comm));
  return out;
}

}  // namespace

namespace detail {

void broadcast_raw(MPI_Comm comm, void* data, int64_t count, size_t elem_size, int root) {
  if (count <= 0) return;
  ElemType type(elem_size);
  char* p = static_cast<char*>(data);
  for (int64_t off = 0; off < count; off += kMaxCount) {
    int n = static_cast<int>(std::min(kMaxCount, count - off));
    KVSVD_MPI_CHECK(MPI_Bcast(p + off * static_cast<int64_t>(elem_size), n, type.get(), root,
                              comm));
  }
}

std::vector<char> gatherv_raw(MPI_Comm comm, const void* data, int64_t count, size_t elem_size,
                              int root, std::vector<int64_t>* counts) {
  int rank = 0, size = 1;
  KVSVD_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  KVSVD_MPI_CHECK(MPI_Comm_size(comm, &size));
  std::vector<int64_t> all_counts(static_cast<size_t>(rank == root ? size : 0));
  KVSVD_MPI_CHECK(MPI_Gather(&count, 1, MPI_INT64_T, all_counts.data(), 1, MPI_INT64_T, root,
                             comm));
  // MPI_Gatherv takes int counts and displacements: the total must fit (checked on root, and the
  // verdict is broadcast so that no rank enters the Gatherv alone).
  int fits = 1;
  if (rank == root) {
    int64_t total = 0;
    for (int64_t c : all_counts) total += c;
    fits = total <= INT_MAX ? 1 : 0;
  }
  KVSVD_MPI_CHECK(MPI_Bcast(&fits, 1, MPI_INT, root, comm));
  KVSVD_CHECK(fits, "gather of more than ", INT_MAX, " elements of ", elem_size,
              " bytes is not supported: gather in pieces");
  ElemType type(elem_size);
  std::vector<int> recv_counts, displs;
  std::vector<char> out;
  if (rank == root) {
    int64_t off = 0;
    for (int64_t c : all_counts) {
      recv_counts.push_back(static_cast<int>(c));
      displs.push_back(static_cast<int>(off));
      off += c;
    }
    out.resize(static_cast<size_t>(off) * elem_size);
    if (counts) *counts = all_counts;
  }
  KVSVD_MPI_CHECK(MPI_Gatherv(data, static_cast<int>(count), type.get(), out.data(),
                              recv_counts.data(), displs.data(), type.get(), root, comm));
  return out;
}

}  // namespace detail

Comm::Comm(MPI_Comm parent) {
  KVSVD_MPI_CHECK(MPI_Comm_dup(parent, &comm_));
  KVSVD_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  KVSVD_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  KVSVD_MPI_CHECK(MPI_Comm_size(comm_, &size_));
}

Comm::~Comm() {
  nccl_.reset();  // before the MPI communicator it was bootstrapped over
  if (comm_ != MPI_COMM_NULL && !mpi_finalized()) MPI_Comm_free(&comm_);
}

Comm::Comm(Comm&& o) noexcept
    : comm_(std::exchange(o.comm_, MPI_COMM_NULL)),
      rank_(o.rank_),
      size_(o.size_),
      nccl_(std::move(o.nccl_)),
      nccl_usable_(o.nccl_usable_),
      last_used_nccl_(o.last_used_nccl_) {}

Comm& Comm::operator=(Comm&& o) noexcept {
  if (this != &o) {
    nccl_.reset();
    if (comm_ != MPI_COMM_NULL && !mpi_finalized()) MPI_Comm_free(&comm_);
    comm_ = std::exchange(o.comm_, MPI_COMM_NULL);
    rank_ = o.rank_;
    size_ = o.size_;
    nccl_ = std::move(o.nccl_);
    nccl_usable_ = o.nccl_usable_;
    last_used_nccl_ = o.last_used_nccl_;
  }
  return *this;
}

void Comm::barrier() const { KVSVD_MPI_CHECK(MPI_Barrier(comm_)); }

void Comm::allreduce_sum(std::vector<double>& v) const {
  allreduce_in_place(comm_, v.data(), static_cast<int64_t>(v.size()), MPI_DOUBLE, MPI_SUM);
}
void Comm::allreduce_sum(std::vector<float>& v) const {
  allreduce_in_place(comm_, v.data(), static_cast<int64_t>(v.size()), MPI_FLOAT, MPI_SUM);
}
void Comm::allreduce_sum(std::vector<int64_t>& v) const {
  allreduce_in_place(comm_, v.data(), static_cast<int64_t>(v.size()), MPI_INT64_T, MPI_SUM);
}
double Comm::allreduce_sum(double x) const {
  return allreduce_scalar(comm_, x, MPI_DOUBLE, MPI_SUM);
}
int64_t Comm::allreduce_sum(int64_t x) const {
  return allreduce_scalar(comm_, x, MPI_INT64_T, MPI_SUM);
}
int64_t Comm::allreduce_max(int64_t x) const {
  return allreduce_scalar(comm_, x, MPI_INT64_T, MPI_MAX);
}
int64_t Comm::allreduce_min(int64_t x) const {
  return allreduce_scalar(comm_, x, MPI_INT64_T, MPI_MIN);
}
bool Comm::all_of(bool x) const { return allreduce_scalar(comm_, int{x}, MPI_INT, MPI_MIN) != 0; }
bool Comm::any_of(bool x) const { return allreduce_scalar(comm_, int{x}, MPI_INT, MPI_MAX) != 0; }

void Comm::broadcast(std::string& s, int root) const {
  int64_t n = static_cast<int64_t>(s.size());
  detail::broadcast_raw(comm_, &n, 1, sizeof n, root);
  s.resize(static_cast<size_t>(n));
  detail::broadcast_raw(comm_, &s[0], n, 1, root);
}

std::vector<std::string> Comm::gather_bytes(const std::string& mine, int root) const {
  std::vector<int64_t> counts;
  std::vector<char> all = detail::gatherv_raw(comm_, mine.data(),
                                              static_cast<int64_t>(mine.size()), 1, root, &counts);
  std::vector<std::string> out;
  size_t off = 0;
  for (int64_t c : counts) {
    out.emplace_back(all.data() + off, static_cast<size_t>(c));
    off += static_cast<size_t>(c);
  }
  return out;
}

std::vector<double> Comm::reduce_ordered_sum(const std::vector<double>& partial) const {
  std::vector<std::vector<double>> parts = gather(partial, 0);
  std::vector<double> sum;
  if (rank_ == 0) {
    sum.assign(partial.size(), 0.0);
    for (size_t r = 0; r < parts.size(); ++r) {
      KVSVD_CHECK(parts[r].size() == sum.size(), "reduce_ordered_sum: rank ", r, " gave ",
                  parts[r].size(), " values, rank 0 gave ", sum.size());
      for (size_t j = 0; j < sum.size(); ++j) sum[j] += parts[r][j];
    }
  }
  broadcast(sum, 0);
  return sum;
}

std::vector<IndexedItem> Comm::gather_indexed(const std::vector<IndexedItem>& mine,
                                              int root) const {
  // Records of (index, values) back to back.
  WireWriter w;
  for (const IndexedItem& it : mine) {
    w.put<int64_t>(it.index);
    w.put_array(it.values);
  }
  std::vector<std::string> parts = gather_bytes(w.bytes(), root);
  std::vector<IndexedItem> out;
  for (size_t r = 0; r < parts.size(); ++r) {
    WireReader in(parts[r], cat("gather_indexed: rank ", r, " message"));
    while (!in.done()) {
      IndexedItem it;
      it.index = in.get<int64_t>();
      it.values = in.get_array<double>();
      out.push_back(std::move(it));
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const IndexedItem& a, const IndexedItem& b) { return a.index < b.index; });
  for (size_t i = 1; i < out.size(); ++i) {
    KVSVD_CHECK(out[i].index != out[i - 1].index, "gather_indexed: item index ", out[i].index,
                " was contributed twice");
  }
  return out;
}

std::vector<double> Comm::reduce_indexed_sum(const std::vector<IndexedItem>& mine,
                                             size_t width) const {
  for (const IndexedItem& it : mine) {
    KVSVD_CHECK(it.values.size() == width, "reduce_indexed_sum: item ", it.index, " has ",
                it.values.size(), " values, expected ", width);
  }
  std::vector<IndexedItem> all = gather_indexed(mine, 0);
  std::vector<double> sum;
  if (rank_ == 0) {
    sum.assign(width, 0.0);
    for (const IndexedItem& it : all) {  // ascending global index: the canonical order
      for (size_t j = 0; j < width; ++j) sum[j] += it.values[j];
    }
  }
  broadcast(sum, 0);
  return sum;
}

}  // namespace kvsvd
