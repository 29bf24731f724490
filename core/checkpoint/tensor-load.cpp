#include "core/checkpoint/tensor-load.h"

#include <cstring>
#include <sstream>

#include "core/util/error.h"

namespace kvsvd {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

}  // namespace

at::Tensor load_tensor(const Checkpoint& ckpt, const std::string& name, at::ScalarType dtype,
                       at::Device device, const std::vector<int64_t>& expect) {
  const TensorInfo& t = ckpt.info(name);
  const std::string& file = ckpt.shard_paths().at(size_t(t.shard));
  KVSVD_CHECK(expect.empty() || expect == t.shape, "tensor '", name, "' in ", file,
              ": expected shape ", shape_str(expect), ", got ", shape_str(t.shape));
  at::ScalarType src;
  switch (t.dtype) {
    case DType::F32: src = at::kFloat; break;
    case DType::F16: src = at::kHalf; break;
    case DType::BF16: src = at::kBFloat16; break;
    default:
      fail(cat("tensor '", name, "' in ", file, ": dtype ", dtype_name(t.dtype),
               " cannot be loaded as weights (F32, F16 or BF16 only)"));
  }
  KVSVD_CHECK(at::isFloatingType(dtype), "tensor '", name, "' in ", file,
              ": requested dtype ", c10::toString(dtype), " is not a floating-point type");

  const uint8_t* bytes = ckpt.data(t);
  const size_t nbytes = size_t(t.end - t.begin);
  const auto src_opts = at::TensorOptions().dtype(src).device(at::kCPU);
  at::Tensor host;
  if (reinterpret_cast<uintptr_t>(bytes) % dtype_size(t.dtype) == 0) {
    // Zero-copy view of the mapping; the .to(..., copy=true) below makes the owned copy.
    host = at::from_blob(const_cast<uint8_t*>(bytes), t.shape, src_opts);
  } else {
    // Misaligned offsets are legal in safetensors; element-aligned storage is what kernels expect.
    host = at::empty(t.shape, src_opts);
    if (nbytes > 0) std::memcpy(host.data_ptr(), bytes, nbytes);
  }
  if (device.is_cpu()) {
    // copy=true: the result never aliases the mmap, even for F32 -> F32.
    return host.to(dtype, /*non_blocking=*/false, /*copy=*/true);
  }
  // A blocking host->device copy with a dtype change would convert on the CPU first; moving the
  // stored dtype and converting on the device sends bf16/f16 weights across at 2 bytes each.
  return host.to(device, src, /*non_blocking=*/false, /*copy=*/true).to(dtype);
}

}  // namespace kvsvd
