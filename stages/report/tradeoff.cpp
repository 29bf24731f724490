#include "stages/report/tradeoff.h"

#include <algorithm>

namespace kvsvd {

namespace {

// Relative slack so that a ratio of exactly 2 printed as 2.0000000001 / 1.9999999999 still counts.
constexpr double kTol = 1e-9;

bool fewer_bytes_then_ppl(const ReportRow& a, const ReportRow& b) {
  if (a.kv_bytes_per_token != b.kv_bytes_per_token)
    return a.kv_bytes_per_token < b.kv_bytes_per_token;
  return a.perplexity < b.perplexity;
}

}  // namespace

void mark_pareto_front(std::vector<ReportRow>& rows) {
  for (auto& a : rows) {
    a.pareto = true;
    for (const auto& b : rows) {
      if (&a == &b || a.group != b.group) continue;
      const bool no_worse = b.kv_bytes_per_token <= a.kv_bytes_per_token && b.perplexity <= a.perplexity;
      const bool better = b.kv_bytes_per_token < a.kv_bytes_per_token || b.perplexity < a.perplexity;
      if (no_worse && better) {
        a.pareto = false;
        break;
      }
    }
  }
}

bool meets_memory(const ReportRow& r, const TradeoffTarget& t) {
  return r.compression_ratio >= t.min_reduction * (1 - kTol);
}

bool meets_quality(const ReportRow& r, const TradeoffTarget& t) {
  return r.rel_ppl_increase <= t.max_loss + kTol;
}

std::vector<Recommendation> recommend(std::vector<ReportRow>& rows, const TradeoffTarget& target) {
  std::vector<std::string> groups;
  for (const auto& r : rows)
    if (std::find(groups.begin(), groups.end(), r.group) == groups.end()) groups.push_back(r.group);
  std::vector<Recommendation> out;
  for (const auto& g : groups) {
    Recommendation rec;
    rec.group = g;
    for (int i = 0; i < static_cast<int>(rows.size()); ++i) {
      const ReportRow& r = rows[i];
      if (r.group != g) continue;
      if (r.pareto) rec.front.push_back(i);
      const bool mem = meets_memory(r, target), qual = meets_quality(r, target);
      if (mem && qual && (rec.best < 0 || fewer_bytes_then_ppl(r, rows[rec.best]))) rec.best = i;
      if (mem) {
        const int j = rec.best_quality_at_target;
        if (j < 0 || r.rel_ppl_increase < rows[j].rel_ppl_increase ||
            (r.rel_ppl_increase == rows[j].rel_ppl_increase && fewer_bytes_then_ppl(r, rows[j])))
          rec.best_quality_at_target = i;
      }
      if (qual) {
        const int j = rec.best_memory_within_budget;
        if (j < 0 || fewer_bytes_then_ppl(r, rows[j])) rec.best_memory_within_budget = i;
      }
    }
    std::sort(rec.front.begin(), rec.front.end(),
              [&](int a, int b) { return fewer_bytes_then_ppl(rows[a], rows[b]); });
    if (rec.best >= 0) rows[rec.best].recommended = true;
    out.push_back(rec);
  }
  return out;
}

}  // namespace kvsvd
