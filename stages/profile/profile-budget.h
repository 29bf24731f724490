// `kvsvd profile --kv-budget-bytes N | --target-ratio X`: per-(layer, KV head) key and value ranks
// allocated under a KV byte budget, driven by the measured end-to-end loss of each rank step.
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/dataset.h"
#include "core/model/llama.h"
#include "core/compress/layer-profile.h"
#include "stages/profile/profile-options.h"

namespace kvsvd {

// The budget in KV bytes per token that the options ask for: --kv-budget-bytes, or the fp16 full
// cache (L · Hkv · 2 · d · 2 bytes) divided by --target-ratio, rounded down.
int64_t budget_bytes_per_token(const ProfileOptions& o, const LlamaConfig& cfg);

// Checks, before any work and on every rank, that the budget covers every head at rank 1 (the
// error names --kv-budget-bytes or --target-ratio and both figures).
void check_budget_fits(const ProfileOptions& o, const LlamaConfig& cfg);

// `layers` hold every layer's full-rank bases (key_rank = value_rank = head_dim, fused outputs
// optional). For every (layer, KV head, keys|values) slot and every candidate rank
// (core/compress/rank-budget.h), the slot alone is cut to that rank, every other slot kept at
// full rank, and the mean KL to the full model is measured over the first --budget-windows
// calibration windows of equal length; the greedy allocation then spends the budget by KL removed
// per byte (bytes counted by the very storage the cache uses at --budget-bits). Sets each layer's
// per-head ranks and trims the stored bases (and fused outputs) to the largest rank allocated.
// Returns what was measured and chosen (for the log and tests). Deterministic for a device.
nlohmann::json apply_rank_budget(std::vector<LayerProfile>& layers, const LlamaModel& model,
                                 const std::vector<TokenIds>& calib_windows,
                                 const ProfileOptions& o, bool progress);

}  // namespace kvsvd
