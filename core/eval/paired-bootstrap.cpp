// Paired window bootstrap: resample window indices, recompute the pooled relative change.
#include "core/eval/paired-bootstrap.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "core/util/error.h"

namespace kvsvd {
namespace {

void check_inputs(const std::vector<double>& full, const std::vector<double>& cfg,
                  const std::vector<int64_t>& scored) {
  KVSVD_CHECK(!full.empty(), "paired bootstrap: no windows");
  KVSVD_CHECK(full.size() == cfg.size() && full.size() == scored.size(),
              "paired bootstrap: ", full.size(), " full, ", cfg.size(), " compressed and ",
              scored.size(), " token counts (one each per window)");
}

// Linear interpolation between order statistics (sorted ascending), q in [0, 1].
double quantile(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  const size_t j = std::min(i + 1, sorted.size() - 1);
  return sorted[i] + (pos - static_cast<double>(i)) * (sorted[j] - sorted[i]);
}

}  // namespace

double relative_ppl_change(const std::vector<double>& nll_full, const std::vector<double>& nll_cfg,
                           const std::vector<int64_t>& scored) {
  check_inputs(nll_full, nll_cfg, scored);
  double diff = 0;
  int64_t tokens = 0;
  for (size_t w = 0; w < nll_full.size(); ++w) {
    diff += nll_cfg[w] - nll_full[w];
    tokens += scored[w];
  }
  KVSVD_CHECK(tokens > 0, "paired bootstrap: no scored tokens");
  return std::expm1(diff / static_cast<double>(tokens));
}

Interval paired_bootstrap_ci(const std::vector<double>& nll_full, const std::vector<double>& nll_cfg,
                             const std::vector<int64_t>& scored, const BootstrapSpec& spec) {
  check_inputs(nll_full, nll_cfg, scored);
  KVSVD_CHECK(spec.level > 0 && spec.level < 1, "paired bootstrap: level ", spec.level,
              " is not in (0, 1)");
  KVSVD_CHECK(spec.resamples >= 1, "paired bootstrap: ", spec.resamples, " resamples");
  const size_t n = nll_full.size();
  std::vector<double> diff(n);
  for (size_t w = 0; w < n; ++w) diff[w] = nll_cfg[w] - nll_full[w];
  std::mt19937_64 rng(spec.seed);
  std::vector<double> stats;
  stats.reserve(static_cast<size_t>(spec.resamples));
  for (int64_t b = 0; b < spec.resamples; ++b) {
    double d = 0;
    int64_t tokens = 0;
    for (size_t k = 0; k < n; ++k) {
      // Modulo bias is below n / 2^64: irrelevant, and unlike uniform_int_distribution the
      // mapping is the same in every standard library.
      const size_t w = static_cast<size_t>(rng() % n);
      d += diff[w];
      tokens += scored[w];
    }
    // A resample of windows without scored tokens has no change to measure: count it as 0.
    stats.push_back(tokens > 0 ? std::expm1(d / static_cast<double>(tokens)) : 0.0);
  }
  std::sort(stats.begin(), stats.end());
  const double tail = (1 - spec.level) / 2;
  return Interval{quantile(stats, tail), quantile(stats, 1 - tail)};
}

}  // namespace kvsvd
