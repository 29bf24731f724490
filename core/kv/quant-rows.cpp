// Per-token quantized rows: quantize on append, dequantize on read.
#include "core/kv/quant-rows.h"

#include <algorithm>
#include <vector>

#include "core/kv/kv-cache.h"
#include "core/kv/quant-tensor.h"
#include "core/util/error.h"

namespace kvsvd {
namespace {

at::Tensor exact(const at::Tensor& t, int64_t used) {
  return t.defined() ? t.narrow(2, 0, used).clone(at::MemoryFormat::Contiguous) : t;
}

}  // namespace

QuantRows::QuantRows(QuantSpec spec, at::ScalarType dtype) : spec_(spec), dtype_(dtype) {
  check_quant_spec(spec_, /*allow_none=*/true);
}

void QuantRows::append(const at::Tensor& rows) {
  KVSVD_CHECK(rows.dim() == 4, "quantized rows: expected [B, H, T, n], got ", rows.sizes());
  const int64_t T = rows.size(2);
  if (n_ < 0) {
    n_ = rows.size(3);
    KVSVD_CHECK(n_ >= 1, "quantized rows: rows need n >= 1 elements");
    auto opt = rows.options();
    const int64_t B = rows.size(0), H = rows.size(1);
    if (spec_.bits == 0) {
      data_ = at::empty({B, H, 0, n_}, opt.dtype(dtype_));
    } else if (spec_.bits == 16) {
      data_ = at::empty({B, H, 0, n_}, opt.dtype(dtype_ == at::kBFloat16 ? at::kBFloat16 : at::kHalf));
    } else {
      const QuantGroups probe = quantize_groups(rows.narrow(2, 0, 0), spec_.bits, spec_.group);
      data_ = at::empty(probe.codes.sizes(), opt.dtype(at::kByte));
      scale_ = at::empty(probe.scale.sizes(), opt.dtype(at::kHalf));
      zero_ = at::empty(probe.zero.sizes(), opt.dtype(at::kHalf));
    }
  }
  KVSVD_CHECK(rows.size(0) == data_.size(0) && rows.size(1) == data_.size(1) && rows.size(3) == n_,
              "quantized rows: appending ", rows.sizes(), " to rows [", data_.size(0), ", ",
              data_.size(1), ", S, ", n_, "]");
  if (T == 0) return;
  if (!spec_.quantized()) {
    append_rows(data_, size_, rows, 2);  // copy_ converts to the storage dtype
  } else {
    const QuantGroups q = quantize_groups(rows, spec_.bits, spec_.group);
    append_rows(data_, size_, q.codes, 2);
    append_rows(scale_, size_, q.scale, 2);
    append_rows(zero_, size_, q.zero, 2);
  }
  size_ += T;
}

at::Tensor QuantRows::read(int64_t begin, int64_t count) const {
  KVSVD_CHECK(begin >= 0 && count >= 0 && begin + count <= size_, "quantized rows: read [", begin,
              ", ", begin + count, ") of ", size_, " rows");
  KVSVD_CHECK(n_ >= 1, "quantized rows: read before the first append");
  if (!spec_.quantized()) return data_.narrow(2, begin, count).to(dtype_);
  QuantGroups q;
  q.codes = data_.narrow(2, begin, count);
  q.scale = scale_.narrow(2, begin, count);
  q.zero = zero_.narrow(2, begin, count);
  return dequantize_groups(q, spec_.bits, spec_.group, n_, dtype_);
}

int64_t QuantRows::bytes() const {
  return storage_bytes(data_) + storage_bytes(scale_) + storage_bytes(zero_);
}

void QuantRows::shrink_to_fit() {
  data_ = exact(data_, size_);
  scale_ = exact(scale_, size_);
  zero_ = exact(zero_, size_);
}

}  // namespace kvsvd
