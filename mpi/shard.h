// Work sharding: contiguous, balanced blocks of [0, n) per rank (layers, windows, tokens).
#pragma once
#include <cstdint>

namespace kvsvd {

// Half-open [begin, end).
struct Range {
  int64_t begin = 0;
  int64_t end = 0;
  int64_t size() const { return end - begin; }
  bool empty() const { return end <= begin; }
  bool contains(int64_t i) const { return i >= begin && i < end; }
};

// Block of rank `rank` among `size` ranks: the first n % size ranks get one item more, so block
// sizes differ by at most one and concatenating the blocks in rank order gives 0..n-1.
// Ranks beyond n get an empty range. Throws kvsvd::Error on n < 0 or rank outside [0, size).
Range shard_range(int64_t n, int rank, int size);

// The rank whose shard_range holds item i (0 <= i < n).
int owner_of(int64_t i, int64_t n, int size);

}  // namespace kvsvd
