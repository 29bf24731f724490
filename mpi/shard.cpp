#include "mpi/shard.h"

#include "core/util/error.h"

namespace kvsvd {

Range shard_range(int64_t n, int rank, int size) {
  KVSVD_CHECK(n >= 0, "shard_range: negative item count ", n);
  KVSVD_CHECK(size >= 1 && rank >= 0 && rank < size, "shard_range: rank ", rank,
              " outside [0, ", size, ")");
  const int64_t base = n / size;
  const int64_t extra = n % size;
  const int64_t r = rank;
  // Ranks below `extra` hold base + 1 items, the others base.
  const int64_t begin = r * base + (r < extra ? r : extra);
  return Range{begin, begin + base + (r < extra ? 1 : 0)};
}

int owner_of(int64_t i, int64_t n, int size) {
  KVSVD_CHECK(i >= 0 && i < n, "owner_of: item ", i, " outside [0, ", n, ")");
  KVSVD_CHECK(size >= 1, "owner_of: size ", size);
  const int64_t base = n / size;
  const int64_t extra = n % size;
  const int64_t big = extra * (base + 1);  // items held by the ranks with one more
  if (i < big) return static_cast<int>(i / (base + 1));
  return static_cast<int>(extra + (i - big) / base);
}

}  // namespace kvsvd
