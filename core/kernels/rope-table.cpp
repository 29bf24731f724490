#include "core/kernels/rope-table.h"

#include "core/util/error.h"

namespace kvsvd {

RopeTable::RopeTable(const at::Tensor& inv, int64_t rows, at::ScalarType dtype) {
  KVSVD_CHECK(rows > 0, "rope table: rows must be > 0, got ", rows);
  KVSVD_CHECK(inv.dim() == 1 && inv.scalar_type() == at::kFloat, "rope table: inv_freq must be [d/2] float32, got ", inv.sizes());
  at::Tensor pos = at::arange(rows, at::TensorOptions().dtype(at::kLong).device(inv.device()))
                       .to(at::kFloat);                                  // [rows]
  at::Tensor freqs = pos.unsqueeze(1) * inv.unsqueeze(0);                // [rows, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);                          // [rows, d]
  cos_ = emb.cos().to(dtype).contiguous();
  sin_ = emb.sin().to(dtype).contiguous();
}

}  // namespace kvsvd
