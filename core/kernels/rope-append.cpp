#include "core/kernels/rope-append.h"

#include "core/kernels/aten-launch.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

void check_args(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                const RopeTable& table, const at::Tensor& positions, const at::Tensor& k_cache,
                const at::Tensor& v_cache) {
  KVSVD_CHECK(q.dim() == 3 && k.dim() == 3 && v.sizes() == k.sizes() && q.size(0) == k.size(0) &&
                  q.size(2) == k.size(2),
              "rope_append: q ", q.sizes(), ", k ", k.sizes(), ", v ", v.sizes());
  const int64_t B = q.size(0), Hkv = k.size(1), d = q.size(2);
  KVSVD_CHECK(k_cache.dim() == 4 && k_cache.size(0) == B && k_cache.size(1) == Hkv &&
                  k_cache.size(3) == d && v_cache.sizes() == k_cache.sizes() &&
                  k_cache.is_contiguous() && v_cache.is_contiguous(),
              "rope_append: caches ", k_cache.sizes(), " / ", v_cache.sizes(), " for k ", k.sizes());
  KVSVD_CHECK(positions.dim() == 1 && positions.size(0) == B &&
                  positions.scalar_type() == at::kInt,
              "rope_append: positions must be [", B, "] int32, got ", positions.sizes(), " ",
              positions.scalar_type());
  KVSVD_CHECK(table.cos().size(1) == d, "rope_append: table width ", table.cos().size(1),
              " vs head_dim ", d);
}

at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
}

}  // namespace

at::Tensor rope_append_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                 const RopeTable& table, const at::Tensor& positions,
                                 at::Tensor& k_cache, at::Tensor& v_cache) {
  check_args(q, k, v, table, positions, k_cache, v_cache);
  const int64_t B = q.size(0), Hkv = k.size(1), d = q.size(2), cap = k_cache.size(2);
  const at::Tensor pos = positions.to(at::kLong);                        // [B]
  const at::Tensor c = table.cos().index_select(0, pos).unsqueeze(1);    // [B, 1, d]
  const at::Tensor s = table.sin().index_select(0, pos).unsqueeze(1);    // [B, 1, d]
  const at::Tensor qr = (q * c + rotate_half(q) * s).contiguous();       // [B, Hq, d]
  const at::Tensor kr = k * c + rotate_half(k) * s;                      // [B, Hkv, d]
  // Row (b, h, pos_b) of the flattened cache, computed on the device: no host read.
  const at::Tensor heads = at::arange(Hkv, pos.options()).view({1, Hkv});
  const at::Tensor rows =
      ((at::arange(B, pos.options()).view({B, 1}) * Hkv + heads) * cap + pos.view({B, 1}))
          .reshape({-1});                                                // [B*Hkv]
  k_cache.view({-1, d}).index_copy_(0, rows, kr.reshape({B * Hkv, d}).to(k_cache.scalar_type()));
  v_cache.view({-1, d}).index_copy_(0, rows, v.reshape({B * Hkv, d}).to(v_cache.scalar_type()));
  return qr;
}

at::Tensor rope_append(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                       const RopeTable& table, const at::Tensor& positions, at::Tensor& k_cache,
                       at::Tensor& v_cache) {
  check_args(q, k, v, table, positions, k_cache, v_cache);
  const int64_t d = q.size(2);
  const at::ScalarType dt = k_cache.scalar_type();
  auto rows_ok = [&](const at::Tensor& x) {
    return x.scalar_type() == dt && x.stride(2) == 1 && x.stride(1) == d;
  };
  const bool kernel = on_cuda_kernel_path(q) && rows_ok(q) && rows_ok(k) && rows_ok(v) &&
                      table.cos().scalar_type() == dt && d % 2 == 0;
  if (!kernel) return rope_append_reference(q, k, v, table, positions, k_cache, v_cache);
#if KVSVD_HAVE_CUDA
  at::Tensor out = at::empty({q.size(0), q.size(1), d}, q.options());
  RopeAppendArgs a{};
  a.q = q.data_ptr(); a.k = k.data_ptr(); a.v = v.data_ptr();
  a.q_bstride = q.stride(0); a.k_bstride = k.stride(0); a.v_bstride = v.stride(0);
  a.cos = table.cos().data_ptr(); a.sin = table.sin().data_ptr(); a.table_rows = table.rows();
  a.positions = positions.data_ptr<int32_t>();
  a.q_out = out.data_ptr(); a.k_cache = k_cache.data_ptr(); a.v_cache = v_cache.data_ptr();
  a.batch = q.size(0); a.q_heads = q.size(1); a.kv_heads = k.size(1); a.head_dim = d;
  a.capacity = k_cache.size(2);
  launch_rope_append(kernel_dtype(dt), a, current_stream(q));
  return out;
#else
  return rope_append_reference(q, k, v, table, positions, k_cache, v_cache);
#endif
}

}  // namespace kvsvd
