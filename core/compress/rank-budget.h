// Spends a KV byte budget over (layer, KV head, K/V) slots greedily by measured loss removed per
// byte. Torch-free: the losses and byte costs come from the caller.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace kvsvd {

// One slot's options: candidate ranks (ascending), the measured loss at each (e.g. the KL to the
// full model with this slot alone cut to that rank) and the KV bytes per token it costs.
struct SlotCurve {
  std::string name;            // "layer 3 head 1 keys", for errors and reports
  std::vector<int64_t> ranks;  // ascending, >= 1
  std::vector<double> loss;    // same length; the last rank is usually head_dim with loss 0
  std::vector<int64_t> bytes;  // same length, bytes per token at that rank (non-decreasing)
};

struct BudgetAllocation {
  std::vector<int64_t> choice;  // per slot: index into its ranks
  int64_t bytes = 0;            // Σ bytes at the chosen ranks (<= the budget)
  double loss = 0;              // Σ loss at the chosen ranks (the additive estimate)
};

// Starts every slot at its first rank and repeatedly takes the move (one slot to any higher rank)
// with the largest loss decrease per added byte that still fits, until none does. Ties go to the
// lower slot index, then the lower rank. Never exceeds `budget`: when even the first ranks do not
// fit, the error names `flag`, the budget and what the smallest allocation costs.
BudgetAllocation allocate_budget(const std::vector<SlotCurve>& slots, int64_t budget,
                                 const std::string& flag);

// The candidate ranks of a head of dimension d: 1, 2, 3, 4, 6, 8, 12, 16, ... (powers of two and
// their 1.5x) below d, then d itself.
std::vector<int64_t> candidate_ranks(int64_t head_dim);

}  // namespace kvsvd
