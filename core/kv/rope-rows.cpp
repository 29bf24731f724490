#include "core/kv/rope-rows.h"

namespace kvsvd {

at::Tensor rotate_half_rows(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
}

at::Tensor rope_rows(const at::Tensor& x, const RopeTable& table, const at::Tensor& pos) {
  const at::Tensor cos = table.cos().index_select(0, pos).unsqueeze(1);  // [B, 1, d]
  const at::Tensor sin = table.sin().index_select(0, pos).unsqueeze(1);
  return x * cos + rotate_half_rows(x) * sin;
}

}  // namespace kvsvd
