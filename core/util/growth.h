// The capacity growth rule of every growable cache store: the first allocation exact, later ones
// doubling, so a decode of S tokens reallocates O(log S) times.
#pragma once
#include <algorithm>
#include <cstdint>

namespace kvsvd {

// Capacity for `need` elements in a store that holds `cap` (need > cap).
inline int64_t grown_capacity(int64_t cap, int64_t need) {
  return cap == 0 ? need : std::max(need, 2 * cap);
}

}  // namespace kvsvd
