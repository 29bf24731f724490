#include "core/checkpoint/fingerprint.h"

#include <algorithm>

#include "core/util/error.h"
#include "core/util/sha256.h"

namespace kvsvd {
namespace {

constexpr uint64_t kEdge = 64 * 1024;  // bytes hashed at each end of a large tensor
constexpr uint64_t kBlock = 4 * 1024;  // bytes per strided block
constexpr uint64_t kBlocks = 64;       // strided blocks between the two ends

// Fixed-width little-endian integers and length-prefixed strings keep the hashed stream
// unambiguous (no two different field lists serialise to the same bytes).
void put_u64(Sha256& h, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = uint8_t(v >> (8 * i));
  h.update(b, 8);
}
void put_str(Sha256& h, const std::string& s) {
  put_u64(h, s.size());
  h.update(s);
}

void put_sample(Sha256& h, const uint8_t* p, uint64_t len) {
  if (len <= 2 * kEdge + kBlocks * kBlock) {
    h.update(p, size_t(len));
    return;
  }
  h.update(p, kEdge);
  // Blocks start evenly spaced over [kEdge, len - kEdge - kBlock], both ends included.
  const uint64_t first = kEdge, last = len - kEdge - kBlock;
  for (uint64_t k = 0; k < kBlocks; ++k) {
    const uint64_t off = first + (last - first) * k / (kBlocks - 1);
    h.update(p + off, kBlock);
  }
  h.update(p + len - kEdge, kEdge);
}

}  // namespace

std::string model_fingerprint(const Checkpoint& ckpt,
                              const std::vector<std::string>& tensor_names) {
  std::vector<std::string> names = tensor_names;
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  Sha256 h;
  put_str(h, "kvsvd-model-fp-v1");
  put_str(h, ckpt.config_text());
  put_u64(h, names.size());
  for (const auto& name : names) {
    const TensorInfo& t = ckpt.info(name);
    put_str(h, name);
    put_str(h, dtype_name(t.dtype));
    put_u64(h, t.shape.size());
    for (int64_t d : t.shape) put_u64(h, uint64_t(d));
    const uint64_t len = t.end - t.begin;
    put_u64(h, len);
    if (len > 0) put_sample(h, ckpt.data(t), len);
  }
  return h.hex_digest();
}


}  // namespace kvsvd
