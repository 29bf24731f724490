// Storage accounting shared by every KV cache: memory is what the tensors really allocate.
#include "core/kv/kv-cache.h"

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

}  // namespace kvsvd
