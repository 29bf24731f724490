// Next-token choice from one row of logits: greedy, or seeded temperature / top-p sampling done
// on the host in double precision, so a seed gives the same tokens on every device. Torch-free.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace kvsvd {

struct SamplingConfig {
  bool greedy = true;
  double temperature = 1.0;  // > 0 when sampling
  double top_p = 1.0;        // (0, 1]: nucleus mass kept
  uint64_t seed = 0;
};

// Index of the largest value; the first one on ties (as torch.argmax).
int64_t argmax_first(const float* logits, int64_t n);

class TokenSampler {
 public:
  // Checks the config (temperature > 0, top_p in (0, 1]); the error names the flag.
  explicit TokenSampler(const SamplingConfig& cfg);
  // logits: [n] float32 on the host.
  int64_t next(const float* logits, int64_t n);

 private:
  SamplingConfig cfg_;
  std::mt19937_64 rng_;  // its output sequence is fixed by the C++ standard
  std::vector<double> probs_;
  std::vector<int64_t> order_;
};

}  // namespace kvsvd
