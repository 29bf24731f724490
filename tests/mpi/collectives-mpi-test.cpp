// Typed MPI collectives, sharding and deterministic reductions, run under mpirun -np 1, 2, 3.
#include <ATen/ATen.h>
#include <mpi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "mpi/comm.h"
#include "mpi/gpu-binding.h"
#include "mpi/mpi-env.h"
#include "core/util/error.h"
#include "mpi/shard.h"
#include "support/catch.h"

using namespace kvsvd;

namespace {

// Item i of the ordered-sum test: magnitudes spread over 16 decades so that the order in which
// the items are added changes the floating-point result.
std::vector<double> item_values(int64_t i, size_t width) {
  std::mt19937_64 rng(static_cast<uint64_t>(1000003 * i + 17));
  std::uniform_real_distribution<double> mant(-1.0, 1.0);
  std::uniform_int_distribution<int> expo(-8, 8);
  std::vector<double> v(width);
  for (auto& x : v) x = mant(rng) * std::pow(10.0, expo(rng));
  return v;
}

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

}  // namespace

TEST_CASE("shard_range: balanced contiguous blocks; owner_of agrees", "[mpi][shard]") {
  for (int64_t n = 0; n <= 40; ++n) {
    for (int size = 1; size <= 7; ++size) {
      int64_t next = 0;
      for (int r = 0; r < size; ++r) {
        Range rg = shard_range(n, r, size);
        INFO("n=" << n << " size=" << size << " rank=" << r);
        CHECK(rg.begin == next);
        CHECK(rg.size() == n / size + (r < n % size ? 1 : 0));
        for (int64_t i = rg.begin; i < rg.end; ++i) CHECK(owner_of(i, n, size) == r);
        next = rg.end;
      }
      CHECK(next == n);
    }
  }
  CHECK(shard_range(10, 0, 3).size() == 4);
  CHECK(shard_range(10, 2, 3).begin == 7);
  CHECK_THROWS_AS(shard_range(10, 3, 3), kvsvd::Error);
  CHECK_THROWS_AS(owner_of(10, 10, 3), kvsvd::Error);
}

TEST_CASE("MpiEnv inside an initialised MPI neither re-initialises nor finalises",
          "[mpi][env]") {
  int wr = -1, ws = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &wr);
  MPI_Comm_size(MPI_COMM_WORLD, &ws);
  {
    MpiEnv env;
    CHECK_FALSE(env.owns_init());
    CHECK(env.rank() == wr);
    CHECK(env.size() == ws);
    CHECK(env.local_rank() >= 0);
    CHECK(env.local_rank() < env.local_size());
    CHECK(env.local_size() <= ws);
  }
  int finalized = 1;
  MPI_Finalized(&finalized);
  CHECK(finalized == 0);
  CHECK(gpu_index_for(5, 2) == 1);
  CHECK(gpu_index_for(3, 0) == -1);
}

TEST_CASE("allreduce_sum on vectors and scalars", "[mpi][allreduce]") {
  Comm comm;
  const int n = comm.size(), r = comm.rank();
  std::vector<double> d = {1.0 * (r + 1), 0.5, -1.0 * r};
  comm.allreduce_sum(d);
  CHECK(d[0] == n * (n + 1) / 2.0);
  CHECK(d[1] == 0.5 * n);
  CHECK(d[2] == -(n * (n - 1) / 2.0));
  std::vector<float> f(1000, 1.0f);
  f[999] = static_cast<float>(r);
  comm.allreduce_sum(f);
  CHECK(f[0] == static_cast<float>(n));
  CHECK(f[999] == static_cast<float>(n * (n - 1) / 2));
  std::vector<int64_t> big = {int64_t{1} << 40, r};
  comm.allreduce_sum(big);
  CHECK(big[0] == n * (int64_t{1} << 40));
  CHECK(big[1] == n * (n - 1) / 2);
  CHECK(comm.allreduce_sum(int64_t{2}) == 2 * n);
  CHECK(comm.allreduce_sum(0.25) == 0.25 * n);
  CHECK(comm.allreduce_max(int64_t{r}) == n - 1);
  CHECK(comm.allreduce_min(int64_t{r + 5}) == 5);
  CHECK(comm.all_of(true));
  CHECK_FALSE(comm.all_of(r != n - 1));
  CHECK(comm.any_of(r == n - 1));
  std::vector<double> empty;
  comm.allreduce_sum(empty);
  CHECK(empty.empty());
}

TEST_CASE("broadcast of strings, bytes and values", "[mpi][broadcast]") {
  Comm comm;
  const int last = comm.size() - 1;
  std::string s = comm.rank() == 0 ? std::string("config {\"a\": 1}\0tail", 20) : "junk";
  comm.broadcast(s);
  CHECK(s == std::string("config {\"a\": 1}\0tail", 20));
  std::string e = comm.rank() == last ? "" : "not empty";
  comm.broadcast(e, last);
  CHECK(e.empty());
  std::vector<uint8_t> bytes;
  if (comm.rank() == last) bytes = {1, 2, 3, 255};
  comm.broadcast(bytes, last);
  CHECK(bytes == std::vector<uint8_t>{1, 2, 3, 255});
  int64_t v = comm.rank() == 0 ? 424242 : -1;
  comm.broadcast_value(v);
  CHECK(v == 424242);
}

TEST_CASE("gather of variable-length buffers to rank 0", "[mpi][gather]") {
  Comm comm;
  const int r = comm.rank();
  std::vector<int32_t> mine(static_cast<size_t>(r + 1));
  for (size_t i = 0; i < mine.size(); ++i) mine[i] = r * 10 + static_cast<int32_t>(i);
  auto all = comm.gather(mine);
  std::vector<std::string> strs = comm.gather_bytes(r == 1 ? "" : std::string(r + 2, 'a' + r));
  if (r == 0) {
    REQUIRE(all.size() == static_cast<size_t>(comm.size()));
    for (int q = 0; q < comm.size(); ++q) {
      REQUIRE(all[q].size() == static_cast<size_t>(q + 1));
      for (int i = 0; i <= q; ++i) CHECK(all[q][i] == q * 10 + i);
    }
    REQUIRE(strs.size() == static_cast<size_t>(comm.size()));
    for (int q = 0; q < comm.size(); ++q) {
      CHECK(strs[q] == (q == 1 ? std::string() : std::string(q + 2, 'a' + q)));
    }
  } else {
    CHECK(all.empty());
    CHECK(strs.empty());
  }
}

TEST_CASE("ordered reduction is bitwise identical for any rank count", "[mpi][ordered]") {
  Comm comm;
  const int64_t n_items = 1000;
  const size_t width = 4;
  // The reference: one process adding items 0..999 in index order.
  std::vector<double> serial(width, 0.0), reversed(width, 0.0);
  for (int64_t i = 0; i < n_items; ++i) {
    std::vector<double> v = item_values(i, width);
    for (size_t j = 0; j < width; ++j) serial[j] += v[j];
  }
  for (int64_t i = n_items - 1; i >= 0; --i) {
    std::vector<double> v = item_values(i, width);
    for (size_t j = 0; j < width; ++j) reversed[j] += v[j];
  }
  // The data must be order-sensitive, or this test could not catch a wrong order.
  REQUIRE_FALSE(bitwise_equal(serial, reversed));

  // Items distributed by shard_range; each rank pushes its items in reverse to show that the
  // local order does not matter either.
  Range mine = shard_range(n_items, comm.rank(), comm.size());
  std::vector<IndexedItem> items;
  for (int64_t i = mine.end - 1; i >= mine.begin; --i) items.push_back({i, item_values(i, width)});
  std::vector<double> got = comm.reduce_indexed_sum(items, width);
  CHECK(bitwise_equal(got, serial));

  std::vector<IndexedItem> gathered = comm.gather_indexed(items);
  if (comm.rank() == 0) {
    REQUIRE(gathered.size() == static_cast<size_t>(n_items));
    for (int64_t i = 0; i < n_items; ++i) CHECK(gathered[i].index == i);
    CHECK(bitwise_equal(gathered[7].values, item_values(7, width)));
  } else {
    CHECK(gathered.empty());
  }

  // Per-rank partials in rank order: every rank gets the same bits.
  std::vector<double> partial(width, 0.0);
  for (const IndexedItem& it : items) {
    for (size_t j = 0; j < width; ++j) partial[j] += it.values[j];
  }
  std::vector<double> ordered = comm.reduce_ordered_sum(partial);
  std::vector<double> from_root = ordered;
  comm.broadcast(from_root);
  CHECK(bitwise_equal(ordered, from_root));
  for (size_t j = 0; j < width; ++j) CHECK(ordered[j] == Approx(serial[j]).epsilon(1e-9));
}

TEST_CASE("tensor collectives on CPU tensors go through MPI", "[mpi][tensor]") {
  Comm comm;
  const int n = comm.size(), r = comm.rank();

  at::Tensor t = at::full({3, 4}, static_cast<double>(r + 1), at::kDouble);
  comm.allreduce_sum(t);
  CHECK_FALSE(comm.last_used_nccl());
  CHECK(at::all(t == n * (n + 1) / 2.0).item<bool>());

  // Non-contiguous input is reduced in place too.
  at::Tensor base = at::ones({4, 6}, at::kFloat);
  at::Tensor view = base.t();
  comm.allreduce_sum(view);
  CHECK(at::all(base == static_cast<float>(n)).item<bool>());

  at::Tensor h = at::full({5}, 1.5, at::kBFloat16);
  comm.allreduce_sum(h);
  CHECK(h.scalar_type() == at::kBFloat16);
  CHECK(at::all(h.to(at::kFloat) == 1.5f * n).item<bool>());

  at::Tensor b = r == 0 ? at::arange(6, at::kLong) : at::zeros({6}, at::kLong);
  comm.broadcast(b);
  CHECK(at::equal(b, at::arange(6, at::kLong)));

  // Shapes may differ per rank in a gather.
  at::Tensor mine = at::full({r + 1, 2}, static_cast<float>(r), at::kFloat);
  std::vector<at::Tensor> all = comm.gather(mine);
  if (r == 0) {
    REQUIRE(all.size() == static_cast<size_t>(n));
    for (int q = 0; q < n; ++q) {
      CHECK(all[q].sizes() == at::IntArrayRef({q + 1, 2}));
      CHECK(at::all(all[q] == static_cast<float>(q)).item<bool>());
    }
  } else {
    CHECK(all.empty());
  }

  at::Tensor partial = at::full({2, 2}, 0.1 * (r + 1), at::kDouble);
  at::Tensor sum = comm.reduce_ordered_sum(partial);
  double expect = 0.0;
  for (int q = 0; q < n; ++q) expect += 0.1 * (q + 1);  // rank order, as on rank 0
  CHECK(sum.sizes() == partial.sizes());
  CHECK(at::all(sum == expect).item<bool>());
}
