// Paired bootstrap intervals against distributions worked out by hand.
#include <cmath>
#include <random>
#include <vector>

#include "core/eval/paired-bootstrap.h"
#include "core/util/error.h"
#include "support/catch.h"

using namespace kvsvd;

TEST_CASE("identical runs give a zero-width interval at 0", "[bootstrap]") {
  const std::vector<double> nll = {100.5, 230.25, 80.0};
  const std::vector<int64_t> scored = {50, 100, 40};
  const Interval ci = paired_bootstrap_ci(nll, nll, scored);
  CHECK(ci.lo == 0.0);
  CHECK(ci.hi == 0.0);
  CHECK(relative_ppl_change(nll, nll, scored) == 0.0);
}

TEST_CASE("a constant per-token shift gives exp(shift) - 1 in every resample", "[bootstrap]") {
  const double c = 0.02;  // nats per token
  const std::vector<double> full = {100.0, 50.0, 75.0, 10.0};
  const std::vector<int64_t> scored = {511, 100, 300, 7};
  std::vector<double> cfg;
  for (size_t w = 0; w < full.size(); ++w) cfg.push_back(full[w] + c * double(scored[w]));
  const Interval ci = paired_bootstrap_ci(full, cfg, scored);
  CHECK(ci.lo == Approx(std::expm1(c)).epsilon(1e-12));
  CHECK(ci.hi == Approx(std::expm1(c)).epsilon(1e-12));
  CHECK(relative_ppl_change(full, cfg, scored) == Approx(std::expm1(c)).epsilon(1e-12));
}

TEST_CASE("two windows: the interval spans the resamples' outcomes 0 and exp(2δ) - 1",
          "[bootstrap]") {
  // Window 0 unchanged, window 1 worse by 2δ per token, equal lengths. Resamples: {0,0} (p 1/4)
  // gives 0, mixed (1/2) gives exp(δ) - 1, {1,1} (1/4) gives exp(2δ) - 1. The 2.5% and 97.5%
  // quantiles fall inside the outer atoms.
  const double delta = 0.05;
  const int64_t T = 100;
  const std::vector<double> full = {300.0, 300.0};
  const std::vector<double> cfg = {300.0, 300.0 + 2 * delta * T};
  const Interval ci = paired_bootstrap_ci(full, cfg, {T, T}, BootstrapSpec{4000, 7, 0.95});
  CHECK(ci.lo == 0.0);
  CHECK(ci.hi == Approx(std::expm1(2 * delta)).epsilon(1e-12));
  // At the 20% level the 40% and 60% quantiles sit on the mixed atom (mass 1/2, from 25% to 75%).
  const Interval mid = paired_bootstrap_ci(full, cfg, {T, T}, BootstrapSpec{4000, 7, 0.2});
  CHECK(mid.lo == Approx(std::expm1(delta)).epsilon(1e-12));
  CHECK(mid.hi == Approx(std::expm1(delta)).epsilon(1e-12));
}

TEST_CASE("the interval holds the point estimate, narrows with more windows, and repeats",
          "[bootstrap]") {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> noise(0.0, 5.0);
  auto make = [&](int n, std::vector<double>& full, std::vector<double>& cfg,
                  std::vector<int64_t>& scored) {
    for (int w = 0; w < n; ++w) {
      full.push_back(1000 + noise(rng));
      cfg.push_back(full.back() + 10 + noise(rng));  // ~0.02 nats per token worse
      scored.push_back(511);
    }
  };
  std::vector<double> f1, c1, f2, c2;
  std::vector<int64_t> s1, s2;
  make(10, f1, c1, s1);
  make(160, f2, c2, s2);
  const Interval a = paired_bootstrap_ci(f1, c1, s1);
  const Interval b = paired_bootstrap_ci(f2, c2, s2);
  const double pa = relative_ppl_change(f1, c1, s1), pb = relative_ppl_change(f2, c2, s2);
  CHECK(a.lo <= pa);
  CHECK(pa <= a.hi);
  CHECK(b.lo <= pb);
  CHECK(pb <= b.hi);
  // Width ~ 1/sqrt(n): 16x the windows, about a quarter of the width.
  CHECK((b.hi - b.lo) < 0.5 * (a.hi - a.lo));
  const Interval again = paired_bootstrap_ci(f1, c1, s1);
  CHECK(again.lo == a.lo);
  CHECK(again.hi == a.hi);
}

TEST_CASE("bad bootstrap inputs are errors", "[bootstrap]") {
  CHECK_THROWS_AS(paired_bootstrap_ci({}, {}, {}), Error);
  CHECK_THROWS_AS(paired_bootstrap_ci({1.0}, {1.0, 2.0}, {1}), Error);
  CHECK_THROWS_AS(paired_bootstrap_ci({1.0}, {1.0}, {1}, BootstrapSpec{100, 1, 1.5}), Error);
  CHECK_THROWS_AS(relative_ppl_change({1.0}, {2.0}, {0}), Error);
}
