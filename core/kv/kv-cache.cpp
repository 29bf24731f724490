// Storage accounting shared by every KV cache: memory is what the tensors really allocate.
#include "core/kv/kv-cache.h"

#include <vector>

#include "core/util/growth.h"

namespace kvsvd {

int64_t KvCache::bytes() const {
  int64_t total = 0;
  for (int64_t b : layer_bytes()) total += b;
  return total;
}

int64_t storage_bytes(const at::Tensor& t) {
  if (!t.defined()) return 0;
  // The whole storage, not the view: a cache that reserved capacity holds all of it.
  return static_cast<int64_t>(t.storage().nbytes());
}

void append_rows(at::Tensor& store, int64_t used, const at::Tensor& rows, int64_t dim) {
  const int64_t n = rows.size(dim), cap = store.size(dim);
  if (used + n > cap) {
    std::vector<int64_t> sizes = store.sizes().vec();
    sizes[dim] = grown_capacity(cap, used + n);
    at::Tensor fresh = at::empty(sizes, store.options());
    if (used > 0) fresh.narrow(dim, 0, used).copy_(store.narrow(dim, 0, used));
    store = fresh;
  }
  store.narrow(dim, used, n).copy_(rows);
}

}  // namespace kvsvd
