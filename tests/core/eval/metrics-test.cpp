// Metrics against hand-computed values.
#include <ATen/ATen.h>

#include <cmath>

#include "core/eval/metrics.h"
#include "support/catch.h"

using namespace kvsvd;

TEST_CASE("KL and top-1 agreement of two logit rows", "[metrics]") {
  // p = softmax([0, ln 3]) = [1/4, 3/4]; q = softmax([0, 0]) = [1/2, 1/2]
  auto full = at::tensor({0.0, std::log(3.0), 5.0, 0.0}, at::kDouble).reshape({2, 2});
  auto comp = at::tensor({0.0, 0.0, 0.0, 5.0}, at::kDouble).reshape({2, 2});
  auto a = compare_logits(full.to(at::kFloat), comp.to(at::kFloat));
  const double kl0 = 0.25 * std::log(0.25 / 0.5) + 0.75 * std::log(0.75 / 0.5);
  const double pa = 1 / (1 + std::exp(-5.0)), pb = 1 - pa;  // row 2: p=[pa,pb], q=[pb,pa]
  const double kl1 = pa * std::log(pa / pb) + pb * std::log(pb / pa);
  CHECK(a.kl_sum == Approx(kl0 + kl1).epsilon(1e-6));
  CHECK(a.positions == 2);
  CHECK(a.top1_agree == 0);  // row 1: argmax 1 vs 0 (tie -> first); row 2: 0 vs 1
  auto same = compare_logits(full, full);
  CHECK(same.kl_sum == Approx(0.0).margin(1e-12));
  CHECK(same.top1_agree == 2);
}

TEST_CASE("sequence agreement: prefix, token agreement, ROUGE-L", "[metrics]") {
  std::vector<int64_t> ref{1, 2, 3, 4, 5, 6};
  std::vector<int64_t> cand{1, 2, 9, 4, 5, 6};
  auto s = compare_sequences(ref, cand);
  CHECK(s.prefix_match == 2);
  CHECK(s.token_agreement == Approx(5.0 / 6.0));
  CHECK(s.rouge_l == Approx(5.0 / 6.0));  // LCS 5, p = r = 5/6
  CHECK(lcs_length({1, 3, 4, 1, 2, 1, 3}, {3, 4, 1, 2, 1, 3}) == 6);
  auto e = compare_sequences(ref, {});
  CHECK(e.prefix_match == 0);
  CHECK(e.rouge_l == 0.0);
  auto same = compare_sequences(ref, ref);
  CHECK(same.rouge_l == Approx(1.0));
  CHECK(same.prefix_match == 6);
}
