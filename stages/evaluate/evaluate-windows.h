// The windows `kvsvd evaluate` scores: the dataset read (token ids, or text through the
// tokenizer), cut into windows and checked against the model's vocabulary.
#pragma once
#include <vector>

#include "core/checkpoint/llama-config.h"
#include "core/data/dataset.h"
#include "stages/evaluate/evaluate-options.h"

namespace kvsvd {

// Rank 0's step: errors name the dataset (or the flag) and the window.
std::vector<TokenIds> load_windows(const EvaluateOptions& o, const LlamaConfig& cfg);

}  // namespace kvsvd
