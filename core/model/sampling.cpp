// Greedy and nucleus sampling over host logits (double precision, own uniform draw).
#include "core/model/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/util/error.h"

namespace kvsvd {

int64_t argmax_first(const float* logits, int64_t n) {
  KVSVD_CHECK(n > 0, "sampling: empty logits row");
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;  // strict: the first maximum wins
  return best;
}

TokenSampler::TokenSampler(const SamplingConfig& cfg) : cfg_(cfg), rng_(cfg.seed) {
  if (!cfg_.greedy) {
    KVSVD_CHECK(cfg_.temperature > 0 && std::isfinite(cfg_.temperature),
                "--temperature must be a finite number > 0, got ", cfg_.temperature);
    KVSVD_CHECK(cfg_.top_p > 0 && cfg_.top_p <= 1, "--top-p must be in (0, 1], got ", cfg_.top_p);
  }
}

int64_t TokenSampler::next(const float* logits, int64_t n) {
  if (cfg_.greedy) return argmax_first(logits, n);
  KVSVD_CHECK(n > 0, "sampling: empty logits row");
  // softmax(logits / T) in double, shifted by the max for range.
  double mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  KVSVD_CHECK(std::isfinite(mx), "sampling: logits have no finite maximum (NaN or inf in the row)");
  probs_.resize(n);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    probs_[i] = std::exp((static_cast<double>(logits[i]) - mx) / cfg_.temperature);
    total += probs_[i];
  }
  for (double& p : probs_) p /= total;

  // Nucleus: the most probable tokens (ties by lower id) until their mass reaches top_p; a token
  // is kept when the mass strictly before it is < top_p, which is transformers' TopPLogitsWarper.
  order_.resize(n);
  std::iota(order_.begin(), order_.end(), int64_t(0));
  int64_t kept = n;
  if (cfg_.top_p < 1) {
    std::sort(order_.begin(), order_.end(), [&](int64_t a, int64_t b) {
      return probs_[a] != probs_[b] ? probs_[a] > probs_[b] : a < b;
    });
    double before = 0;
    kept = 0;
    while (kept < n && before < cfg_.top_p) before += probs_[order_[kept++]];
  }
  double mass = 0;
  for (int64_t j = 0; j < kept; ++j) mass += probs_[order_[j]];

  // u in [0, 1) from the top 53 bits: std::uniform_real_distribution differs across libraries.
  const double u = static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0) * mass;
  double acc = 0;
  for (int64_t j = 0; j < kept; ++j) {
    acc += probs_[order_[j]];
    if (u < acc) return order_[j];
  }
  return order_[kept - 1];  // u landed on the rounding slack at the very end
}

}  // namespace kvsvd
