// Rotary position embedding with the exact operation order of Hugging Face transformers
// (LlamaRotaryEmbedding + apply_rotary_pos_emb), so that logits match a transformers reference.
#include "core/kv/rope.h"

#include "core/util/error.h"

namespace kvsvd {
namespace {

// transformers: 1.0 / (base ** (arange(0, dim, 2, int64).float() / dim)), all in float32.
// Python's `scalar / tensor` is tensor.reciprocal() * scalar; we reproduce that literally.
at::Tensor default_inv_freq(double theta, int64_t dim) {
  at::Tensor exponent = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim;  // [d/2]
  at::Tensor powed = at::pow(theta, exponent);                                // [d/2] float32
  return powed.reciprocal() * 1.0;
}

// transformers _compute_llama3_parameters, same float32 operations in the same order.
at::Tensor llama3_inv_freq(const at::Tensor& inv_freq, const RopeConfig& rc,
                           const std::string& source) {
  KVSVD_CHECK(rc.original_max_position_embeddings > 0, source,
              ": llama3 rope scaling needs original_max_position_embeddings > 0");
  KVSVD_CHECK(rc.high_freq_factor != rc.low_freq_factor, source,
              ": llama3 rope scaling needs high_freq_factor != low_freq_factor");
  KVSVD_CHECK(rc.factor > 0, source, ": llama3 rope scaling factor must be > 0");
  const double old_ctx = static_cast<double>(rc.original_max_position_embeddings);
  const double low_freq_wavelen = old_ctx / rc.low_freq_factor;
  const double high_freq_wavelen = old_ctx / rc.high_freq_factor;

  const double two_pi = 2.0 * 3.141592653589793;  // Python's 2 * math.pi
  at::Tensor wavelen = inv_freq.reciprocal() * two_pi;  // [d/2]
  at::Tensor inv_llama = at::where(wavelen > low_freq_wavelen, inv_freq / rc.factor, inv_freq);
  at::Tensor smooth = ((wavelen.reciprocal() * old_ctx) - rc.low_freq_factor) /
                      (rc.high_freq_factor - rc.low_freq_factor);
  at::Tensor smoothed = (1.0 - smooth) * inv_llama / rc.factor + smooth * inv_llama;
  at::Tensor is_medium = at::logical_not(wavelen < high_freq_wavelen)
                             .logical_and(at::logical_not(wavelen > low_freq_wavelen));
  return at::where(is_medium, smoothed, inv_llama);
}

// [..., d] -> cat(-x2, x1) where x1, x2 are the first and second halves.
at::Tensor rotate_half(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.narrow(-1, 0, half);
  at::Tensor x2 = x.narrow(-1, half, half);
  return at::cat({x2.neg(), x1}, -1);
}

}  // namespace

Rope::Rope(const LlamaConfig& cfg, at::Device device) : head_dim_(cfg.head_dim) {
  KVSVD_CHECK(head_dim_ > 0 && head_dim_ % 2 == 0, "rope: head_dim must be positive and even, got ",
              head_dim_);
  KVSVD_CHECK(cfg.rope.theta > 0, "rope: rope_theta must be > 0, got ", cfg.rope.theta);
  // Computed on the CPU (as transformers does at init), then moved: the device's pow may round
  // differently, and the table is tiny.
  at::Tensor inv = default_inv_freq(cfg.rope.theta, head_dim_);
  if (cfg.rope.type == RopeType::Llama3) inv = llama3_inv_freq(inv, cfg.rope, "rope_scaling");
  inv_freq_ = inv.to(device);
}

at::Tensor Rope::apply(const at::Tensor& x, int64_t pos0) const {
  KVSVD_CHECK(x.dim() == 4, "rope: expected x [B, H, T, d], got ", x.sizes());
  KVSVD_CHECK(pos0 >= 0, "rope: negative start position ", pos0);
  at::Tensor positions =
      at::arange(pos0, pos0 + x.size(2), at::TensorOptions().dtype(at::kLong).device(x.device()));
  return apply_at(x, positions);
}

at::Tensor Rope::apply_at(const at::Tensor& x, const at::Tensor& positions) const {
  KVSVD_CHECK(x.dim() == 4 && x.size(3) == head_dim_, "rope: expected x [B, H, T, ", head_dim_,
              "], got ", x.sizes());
  KVSVD_CHECK(positions.dim() == 1 && positions.size(0) == x.size(2),
              "rope: positions must be [T] with T = ", x.size(2), ", got ", positions.sizes());
  // freqs[t, i] = pos_t * inv_freq_i in float32 (transformers' K=1 matmul is this exact product).
  at::Tensor pos = positions.to(inv_freq_.device(), at::kFloat);                 // [T]
  at::Tensor freqs = pos.unsqueeze(1) * inv_freq_.unsqueeze(0);                 // [T, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);                                 // [T, d]
  // cos/sin in float32, then cast to x's dtype before multiplying (transformers does the same).
  at::Tensor cos = emb.cos().to(x.device(), x.scalar_type());                   // [T, d]
  at::Tensor sin = emb.sin().to(x.device(), x.scalar_type());                   // [T, d]
  return x * cos + rotate_half(x) * sin;
}

}  // namespace kvsvd
