// Paired bootstrap over windows: a confidence interval for the relative perplexity change of a
// configuration against the full cache on the same windows. Torch-free.
#pragma once
#include <cstdint>
#include <vector>

namespace kvsvd {

struct BootstrapSpec {
  int64_t resamples = 2000;
  uint64_t seed = 20261201;  // fixed: the interval is a pure function of the windows' numbers
  double level = 0.95;
};

struct Interval {
  double lo = 0;
  double hi = 0;
};

// The relative perplexity change exp((Σ nll_cfg − Σ nll_full) / Σ scored) − 1 over `windows`.
double relative_ppl_change(const std::vector<double>& nll_full, const std::vector<double>& nll_cfg,
                           const std::vector<int64_t>& scored);

// Percentile interval of relative_ppl_change over `spec.resamples` resamples of the windows with
// replacement, the same resampled windows for both (paired). Entry w of each vector belongs to
// window w (the caller orders them by window index). Indices come from std::mt19937_64 (fully
// specified by the standard), so the interval is the same on every platform. Errors: unequal
// lengths, no windows, no scored tokens, a level outside (0, 1).
Interval paired_bootstrap_ci(const std::vector<double>& nll_full, const std::vector<double>& nll_cfg,
                             const std::vector<int64_t>& scored, const BootstrapSpec& spec = {});

}  // namespace kvsvd
