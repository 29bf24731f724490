#include "core/model/device-sampler.h"

#include <cmath>

#include "core/util/error.h"

namespace kvsvd {
namespace {

// splitmix64's finaliser on int64 tensors (wrapping products); only the low 53 bits are used.
at::Tensor mix(at::Tensor z) {
  z = at::bitwise_xor(z, at::bitwise_right_shift(z, 30) & int64_t(0x3FFFFFFFF)) *
      static_cast<int64_t>(0xBF58476D1CE4E5B9ULL);
  z = at::bitwise_xor(z, at::bitwise_right_shift(z, 27) & int64_t(0x1FFFFFFFFF)) *
      static_cast<int64_t>(0x94D049BB133111EBULL);
  return at::bitwise_xor(z, at::bitwise_right_shift(z, 31) & int64_t(0x1FFFFFFFF));
}

}  // namespace

DeviceSampler::DeviceSampler(const SamplingConfig& cfg, at::Device device) : cfg_(cfg) {
  if (!cfg_.greedy) {
    KVSVD_CHECK(cfg_.temperature > 0 && std::isfinite(cfg_.temperature),
                "--temperature must be a finite number > 0, got ", cfg_.temperature);
    KVSVD_CHECK(cfg_.top_p > 0 && cfg_.top_p <= 1, "--top-p must be in (0, 1], got ", cfg_.top_p);
  }
  auto l = at::TensorOptions().dtype(at::kLong).device(device);
  seed_ = at::full({1}, static_cast<int64_t>(cfg_.seed), l);
  step_ = at::zeros({1}, l);
}

void DeviceSampler::reseed(uint64_t seed) {
  cfg_.seed = seed;
  seed_.fill_(static_cast<int64_t>(seed));
  step_.zero_();
}

at::Tensor DeviceSampler::next(const at::Tensor& logits) {
  KVSVD_CHECK(logits.dim() == 2, "device sampler: logits must be [B, V], got ", logits.sizes());
  if (cfg_.greedy) return logits.argmax(-1);  // first maximum on ties, as torch.argmax
  const int64_t B = logits.size(0), V = logits.size(1);
  const at::Tensor probs = at::softmax(logits.to(at::kFloat) / cfg_.temperature, -1);  // [B, V]
  const auto sorted = probs.sort(/*stable=*/true, -1, /*descending=*/true);
  const at::Tensor& p = std::get<0>(sorted);                                // [B, V]
  const at::Tensor& order = std::get<1>(sorted);                            // [B, V]
  const at::Tensor cum = p.cumsum(-1);
  // transformers' TopPLogitsWarper: a token is kept while the mass strictly before it < top_p.
  const at::Tensor kept = at::where((cum - p) < cfg_.top_p, p, at::zeros_like(p));
  const at::Tensor kcum = kept.cumsum(-1);                                  // [B, V]
  // u in [0, mass) per sequence from hash(seed, step, b).
  const at::Tensor ctr = (seed_ * static_cast<int64_t>(0x9E3779B97F4A7C15ULL)) + step_ * B +
                         at::arange(B, seed_.options());                    // [B]
  const at::Tensor bits = mix(mix(ctr)) & ((int64_t(1) << 53) - 1);
  const at::Tensor u = bits.to(at::kDouble) * (1.0 / 9007199254740992.0);   // [B] in [0, 1)
  const at::Tensor target = (u.to(at::kFloat) * kcum.select(1, V - 1)).unsqueeze(1);  // [B, 1]
  // The last kept token bounds the pick (u * mass may round up to the mass itself).
  const at::Tensor last = (kept > 0).sum(-1, /*keepdim=*/true) - 1;                   // [B, 1]
  const at::Tensor j = at::minimum((kcum <= target).sum(-1, /*keepdim=*/true), last);  // [B, 1]
  step_.add_(1);
  return order.gather(1, j).view({B});
}

}  // namespace kvsvd
