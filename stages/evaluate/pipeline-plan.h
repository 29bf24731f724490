// `evaluate --pipeline-stages`: how many stages, which ranks form a group, which layers a rank
// holds, and the check that a rank's slice fits its device before any weight is read.
#pragma once
#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "core/checkpoint/llama-config.h"
#include "core/model/layer-split.h"
#include "mpi/comm.h"

namespace kvsvd {

constexpr int kPipelineOff = 0;
constexpr int kPipelineAuto = -1;

// "" (off), "auto" or a positive integer; errors name `where`.
int parse_pipeline_stages(const std::string& value, const std::string& where);

struct PipelinePlan {
  int stages = 0;  // S (0: off, the whole model on every rank)
  int groups = 1;  // data-parallel groups of S consecutive ranks
  int group = 0;   // this rank's group
  int stage = 0;   // this rank's stage in its group
  std::vector<StageSlice> split;  // one per stage
  int64_t needed_bytes = 0;       // this rank's estimate (stage_memory_bytes)
  int64_t free_bytes = -1;        // what its device had free
  const StageSlice& mine() const { return split[stage]; }
};

// Collective over `comm`. Resolves --pipeline-stages (auto: the smallest S dividing the world
// whose slices fit every rank's free memory; 1 on CPU ranks) and checks that this rank's slice
// fits: a rank that does not fit throws naming its stage, layers, the bytes needed and free.
// `tokens`: the longest sequence a cache holds (window, or prompt + generated tokens).
PipelinePlan plan_pipeline(const std::string& flag, const Comm& comm, const LlamaConfig& cfg,
                           at::Device device, at::ScalarType dtype, int64_t tokens);

}  // namespace kvsvd
