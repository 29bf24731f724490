#include "core/compress/fused-output.h"

#include "core/util/error.h"

namespace kvsvd {

at::Tensor fused_output(const at::Tensor& w_o, const at::Tensor& value_basis, int64_t num_heads) {
  KVSVD_CHECK(value_basis.dim() == 3, "fused_output: value basis must be [Hkv, d, r], got ",
              value_basis.sizes());
  const int64_t n_kv = value_basis.size(0), d = value_basis.size(1);
  KVSVD_CHECK(num_heads >= 1 && n_kv >= 1 && num_heads % n_kv == 0, "fused_output: ", num_heads,
              " query heads cannot be grouped over ", n_kv, " KV heads");
  KVSVD_CHECK(w_o.dim() == 2 && w_o.size(1) == num_heads * d, "fused_output: o_proj weight must be [hidden, ",
              num_heads * d, "], got ", w_o.sizes());
  KVSVD_CHECK(w_o.device() == value_basis.device(), "fused_output: o_proj weight on ",
              w_o.device(), " but value basis on ", value_basis.device());
  const int64_t hidden = w_o.size(0), group = num_heads / n_kv;
  const auto dtype = at::promote_types(w_o.scalar_type(), value_basis.scalar_type());
  // [hidden, Hq, d] -> [Hq, hidden, d]
  const at::Tensor wo = w_o.to(dtype).view({hidden, num_heads, d}).permute({1, 0, 2});
  // The KV head of each query head: g(i) = i / group.
  const at::Tensor g = at::arange(num_heads, at::TensorOptions().dtype(at::kLong).device(w_o.device()))
                           .div(group, "floor");
  const at::Tensor pv = value_basis.to(dtype).index_select(0, g);  // [Hq, d, r]
  return at::bmm(wo, pv).contiguous();  // [Hq, hidden, r]
}

at::Tensor fused_output_f32(const at::Tensor& w_o, const at::Tensor& value_basis,
                            int64_t num_heads) {
  return fused_output(w_o.to(at::kFloat), value_basis.to(w_o.device(), at::kFloat), num_heads);
}

}  // namespace kvsvd
