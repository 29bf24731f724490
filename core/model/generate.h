// Token generation on top of LlamaModel: greedy and seeded temperature / top-p sampling.
#pragma once
#include <cstdint>
#include <vector>

#include "core/model/llama.h"
#include "core/model/sampling.h"  // SamplingConfig

namespace kvsvd {

struct GenerateStats {
  double prefill_seconds = 0;
  double decode_seconds = 0;
  int64_t new_tokens = 0;
};

// Prefills `prompt` (one sequence) into `cache` (which must be empty), then generates up to
// `max_new` tokens, stopping after any id in `stop_ids`. Returns the new ids only.
std::vector<int64_t> generate(const LlamaModel& model, KvCache& cache,
                              const std::vector<int64_t>& prompt, int64_t max_new,
                              const SamplingConfig& sampling,
                              const std::vector<int64_t>& stop_ids = {},
                              GenerateStats* stats = nullptr);

}  // namespace kvsvd
