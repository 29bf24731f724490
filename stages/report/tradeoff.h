// The memory-quality trade-off: the Pareto front (fewest KV bytes per token vs lowest perplexity)
// and the recommended configuration under a memory target and a quality budget.
#pragma once
#include <string>
#include <vector>

#include "stages/report/report-row.h"

namespace kvsvd {

// Sets row.pareto: no other row of the same group has <= bytes and <= perplexity with one of them
// strictly lower. Equal points are all on the front.
void mark_pareto_front(std::vector<ReportRow>& rows);

struct TradeoffTarget {
  double min_reduction = 2.0;  // compression_ratio_vs_full >= this
  double max_loss = 0.05;      // relative perplexity increase <= this (0.05 = 5%)
};

struct Recommendation {
  std::string group;
  int best = -1;  // index into rows; -1: no row meets both
  // When none meets both: the row meeting the memory target with the least quality loss, and the
  // row meeting the quality budget with the largest reduction (-1 when no row meets that one).
  int best_quality_at_target = -1;
  int best_memory_within_budget = -1;
  std::vector<int> front;  // the group's Pareto front, by bytes (the candidates when neither exists)
};

bool meets_memory(const ReportRow& r, const TradeoffTarget& t);
bool meets_quality(const ReportRow& r, const TradeoffTarget& t);

// One recommendation per group, in first-appearance order; sets row.recommended on the winners.
// Best = lowest kv_bytes_per_token, then lowest perplexity, then first in input order.
// Call mark_pareto_front first.
std::vector<Recommendation> recommend(std::vector<ReportRow>& rows, const TradeoffTarget& target);

}  // namespace kvsvd
