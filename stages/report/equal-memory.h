// The equal-memory view of a report: configurations of different schemes (method + storage bits)
// paired when their KV bytes per token lie within a tolerance, and the best configuration at 2x,
// 4x, 8x less KV memory than an fp16 full cache.
#pragma once
#include <string>
#include <vector>

#include "stages/report/report-row.h"

namespace kvsvd {

struct MemoryPair {
  int a = -1, b = -1;  // indices into rows, a the one with fewer bytes (then lower perplexity)
  double rel_gap = 0;  // |bytes_a - bytes_b| / max(bytes_a, bytes_b)
};

// Every pair of rows of one group whose schemes differ and whose kv_bytes_per_token differ by at
// most `tolerance` (0.05 = 5%), ordered by group (first appearance), then bytes.
std::vector<MemoryPair> equal_memory_pairs(const std::vector<ReportRow>& rows, double tolerance);

// KV memory reduction against the group's full cache stored in 16 bits: compression_ratio_vs_full
// × 16 / the full row's kv_bits (a float32 run's full cache is 32 bits; without a full row in the
// group, or without kv_bits, the full cache is taken as 16 bits).
double reduction_vs_fp16(const ReportRow& r, const std::vector<ReportRow>& rows);

struct ReductionPick {
  std::string group;
  double target = 0;   // reduction_vs_fp16 >= target
  int best = -1;       // lowest perplexity (ties: fewer bytes, then input order); -1: none
  int runner_up = -1;  // the best of another method than `best`'s
};
std::vector<ReductionPick> best_at_reductions(const std::vector<ReportRow>& rows,
                                              const std::vector<double>& targets);

// equal-memory.csv and the report.md section ("## Equal memory ...").
std::string equal_memory_csv(const std::vector<ReportRow>& rows, const std::vector<MemoryPair>& pairs);
std::string equal_memory_markdown(const std::vector<ReportRow>& rows,
                                  const std::vector<MemoryPair>& pairs,
                                  const std::vector<ReductionPick>& picks, double tolerance);

}  // namespace kvsvd
