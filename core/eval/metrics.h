// Quality metrics of a compressed run against the full-cache baseline on the same windows.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace kvsvd {

// Sums over the positions of one window, so windows can be reduced in a fixed order.
struct LogitAgreement {
  double kl_sum = 0;        // Σ_t KL(p_full,t ‖ p_comp,t), natural log
  int64_t top1_agree = 0;   // positions whose argmax agrees
  int64_t positions = 0;
};

// full, comp: [T, V] logits (any float dtype, any device); computed in float64.
LogitAgreement compare_logits(const at::Tensor& full, const at::Tensor& comp);

struct SequenceAgreement {
  int64_t prefix_match = 0;  // tokens until the first divergence
  double token_agreement = 0; // fraction of positions with equal tokens (over the longer length)
  double rouge_l = 0;        // ROUGE-L F1 (longest common subsequence)
};

SequenceAgreement compare_sequences(const std::vector<int64_t>& reference,
                                    const std::vector<int64_t>& candidate);

// Length of the longest common subsequence (O(n·m) time, O(m) memory).
int64_t lcs_length(const std::vector<int64_t>& a, const std::vector<int64_t>& b);

}  // namespace kvsvd
