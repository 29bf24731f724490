#include "core/eval/metrics.h"

#include <algorithm>

#include "core/util/error.h"

namespace kvsvd {

LogitAgreement compare_logits(const at::Tensor& full, const at::Tensor& comp) {
  KVSVD_CHECK(full.dim() == 2 && full.sizes() == comp.sizes(),
              "compare_logits: shapes differ: ", full.sizes(), " vs ", comp.sizes());
  auto lp = at::log_softmax(full.to(at::kDouble), -1);  // [T, V]
  auto lq = at::log_softmax(comp.to(at::kDouble), -1);  // [T, V]
  LogitAgreement out;
  out.kl_sum = (lp.exp() * (lp - lq)).sum().item<double>();
  out.top1_agree = lp.argmax(-1).eq(lq.argmax(-1)).sum().item<int64_t>();
  out.positions = full.size(0);
  return out;
}

int64_t lcs_length(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

SequenceAgreement compare_sequences(const std::vector<int64_t>& reference,
                                    const std::vector<int64_t>& candidate) {
  SequenceAgreement s;
  const size_t common = std::min(reference.size(), candidate.size());
  while (s.prefix_match < static_cast<int64_t>(common) && reference[s.prefix_match] == candidate[s.prefix_match]) {
    ++s.prefix_match;
  }
  const size_t longer = std::max(reference.size(), candidate.size());
  if (longer == 0) {
    s.token_agreement = 1.0;
    s.rouge_l = 1.0;
    return s;
  }
  int64_t equal = 0;
  for (size_t i = 0; i < common; ++i) equal += reference[i] == candidate[i];
  s.token_agreement = static_cast<double>(equal) / static_cast<double>(longer);
  const double lcs = static_cast<double>(lcs_length(reference, candidate));
  if (lcs > 0) {
    const double p = lcs / static_cast<double>(candidate.size());
    const double r = lcs / static_cast<double>(reference.size());
    s.rouge_l = 2 * p * r / (p + r);
  }
  return s;
}

}  // namespace kvsvd
