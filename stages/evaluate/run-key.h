// The run key of an evaluate run: a digest of everything its figures depend on (model, store,
// windows, configurations, generation, dtype, device kind). Resumed windows must carry it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/data/dataset.h"

namespace kvsvd {

struct RunKeyInputs {
  std::string model_fingerprint;
  std::string store_fingerprint;       // "" without a store
  const std::vector<TokenIds>* windows = nullptr;
  std::vector<std::string> labels;     // the configurations, in evaluation order
  int64_t gen_tokens = 0;
  int64_t gen_prompt_tokens = 0;
  int64_t batch = 1;                   // windows per batched prefill (--batch)
  std::string dtype;                   // "float32" | "bfloat16" | "float16"
  std::string device_kind;             // "cpu" | "cuda"
};

std::string evaluate_run_key(const RunKeyInputs& in);

}  // namespace kvsvd
