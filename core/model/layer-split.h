// How a pipeline cuts a Llama into stages: contiguous layer slices balanced by parameter bytes
// (the first stage also holds the embedding, the last the final norm and head), and the memory
// a stage needs. Torch-free: it works from config.json alone, before any weight is read.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/checkpoint/llama-config.h"

namespace kvsvd {

struct StageSlice {
  int stage = 0;
  int64_t first_layer = 0;  // layers [first_layer, end_layer)
  int64_t end_layer = 0;
  bool embed = false;  // the token embedding (first stage)
  bool head = false;   // the final norm and lm_head (last stage)
  int64_t param_bytes = 0;
  int64_t layers() const { return end_layer - first_layer; }
};

// Parameter bytes of one decoder layer, of the embedding, of the final norm + head, at
// `elem_size` bytes per element.
int64_t layer_param_bytes(const LlamaConfig& cfg, int64_t elem_size);
int64_t embed_param_bytes(const LlamaConfig& cfg, int64_t elem_size);
int64_t head_param_bytes(const LlamaConfig& cfg, int64_t elem_size);

// `stages` contiguous slices (each with at least one layer) minimising the largest slice's
// parameter bytes; ties go to the cut that puts layers earlier. Errors name --pipeline-stages.
std::vector<StageSlice> split_layers(const LlamaConfig& cfg, int stages, int64_t elem_size);

// Bytes a stage needs: its parameters, the full-precision KV of its layers for `tokens` tokens,
// and working activations of one `tokens`-long prefill (the last stage adds the float32 logits
// the evaluation holds at once: the baseline's and one configuration's, plus one log-softmax).
int64_t stage_memory_bytes(const LlamaConfig& cfg, const StageSlice& s, int64_t elem_size,
                           int64_t tokens);

// "0-15|16-31" style summary of a split (provenance, messages).
std::string layer_split_string(const std::vector<StageSlice>& split);

}  // namespace kvsvd
