#include "core/compress/rank-budget.h"

#include <limits>

#include "core/util/error.h"

namespace kvsvd {

std::vector<int64_t> candidate_ranks(int64_t head_dim) {
  KVSVD_CHECK(head_dim >= 1, "candidate_ranks: head_dim ", head_dim);
  std::vector<int64_t> out;
  for (int64_t p = 1; p < head_dim; p *= 2) {
    out.push_back(p);
    if (p >= 2 && p + p / 2 < head_dim) out.push_back(p + p / 2);
  }
  out.push_back(head_dim);
  return out;
}

BudgetAllocation allocate_budget(const std::vector<SlotCurve>& slots, int64_t budget,
                                 const std::string& flag) {
  KVSVD_CHECK(!slots.empty(), flag, ": no slots to allocate");
  BudgetAllocation a;
  a.choice.assign(slots.size(), 0);
  for (const SlotCurve& s : slots) {
    KVSVD_CHECK(!s.ranks.empty() && s.ranks.size() == s.loss.size() &&
                    s.ranks.size() == s.bytes.size(),
                flag, ": slot ", s.name, " has ", s.ranks.size(), " ranks, ", s.loss.size(),
                " losses and ", s.bytes.size(), " byte counts");
    for (size_t i = 1; i < s.ranks.size(); ++i)
      KVSVD_CHECK(s.ranks[i] > s.ranks[i - 1] && s.bytes[i] >= s.bytes[i - 1], flag, ": slot ",
                  s.name, ": ranks must ascend and bytes must not fall");
    a.bytes += s.bytes[0];
    a.loss += s.loss[0];
  }
  KVSVD_CHECK(a.bytes <= budget, flag, ": a budget of ", budget,
              " KV bytes per token is below the smallest allocation (", a.bytes,
              " bytes per token with every head at rank ", slots[0].ranks[0], ")");
  for (;;) {
    double best_ratio = 0;
    size_t best_slot = slots.size(), best_to = 0;
    for (size_t s = 0; s < slots.size(); ++s) {
      const SlotCurve& c = slots[s];
      const size_t at = static_cast<size_t>(a.choice[s]);
      for (size_t to = at + 1; to < c.ranks.size(); ++to) {
        const int64_t cost = c.bytes[to] - c.bytes[at];
        const double gain = c.loss[at] - c.loss[to];
        if (a.bytes + cost > budget || gain <= 0) continue;
        // A free move (no bytes) with a gain is always worth taking first.
        const double ratio = cost == 0 ? std::numeric_limits<double>::infinity()
                                       : gain / static_cast<double>(cost);
        if (ratio > best_ratio) {
          best_ratio = ratio;
          best_slot = s;
          best_to = to;
        }
      }
    }
    if (best_slot == slots.size()) break;
    const SlotCurve& c = slots[best_slot];
    const size_t at = static_cast<size_t>(a.choice[best_slot]);
    a.bytes += c.bytes[best_to] - c.bytes[at];
    a.choice[best_slot] = static_cast<int64_t>(best_to);
  }
  a.loss = 0;  // summed once at the end (the running sum carries round-off)
  for (size_t s = 0; s < slots.size(); ++s) a.loss += slots[s].loss[static_cast<size_t>(a.choice[s])];
  return a;
}

}  // namespace kvsvd
