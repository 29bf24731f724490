// Equal-memory pairs and the best configuration per memory reduction, as CSV and markdown.
#include "stages/report/equal-memory.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/util/error.h"
#include "stages/report/table-format.h"

namespace kvsvd {
namespace {

std::vector<std::string> groups_of(const std::vector<ReportRow>& rows) {
  std::vector<std::string> g;
  for (const auto& r : rows)
    if (std::find(g.begin(), g.end(), r.group) == g.end()) g.push_back(r.group);
  return g;
}

// a before b: lower perplexity, then fewer bytes (then input order, by stable use).
bool better(const ReportRow& a, const ReportRow& b) {
  if (a.perplexity != b.perplexity) return a.perplexity < b.perplexity;
  return a.kv_bytes_per_token < b.kv_bytes_per_token;
}

}  // namespace

std::vector<MemoryPair> equal_memory_pairs(const std::vector<ReportRow>& rows, double tolerance) {
  KVSVD_CHECK(tolerance >= 0, "equal-memory tolerance must be >= 0, got ", tolerance);
  std::vector<MemoryPair> out;
  for (const auto& g : groups_of(rows)) {
    std::vector<int> idx;
    for (size_t i = 0; i < rows.size(); ++i)
      if (rows[i].group == g) idx.push_back(static_cast<int>(i));
    std::stable_sort(idx.begin(), idx.end(), [&](int x, int y) {
      return rows[x].kv_bytes_per_token < rows[y].kv_bytes_per_token;
    });
    for (size_t i = 0; i < idx.size(); ++i)
      for (size_t j = i + 1; j < idx.size(); ++j) {
        const ReportRow &a = rows[idx[i]], &b = rows[idx[j]];
        const double gap = (b.kv_bytes_per_token - a.kv_bytes_per_token) / b.kv_bytes_per_token;
        if (gap > tolerance) break;  // sorted by bytes: later rows are further away
        if (a.scheme() == b.scheme()) continue;
        out.push_back(MemoryPair{idx[i], idx[j], gap});
      }
  }
  return out;
}

double reduction_vs_fp16(const ReportRow& r, const std::vector<ReportRow>& rows) {
  double full_bits = 16;
  for (const auto& o : rows)
    if (o.group == r.group && o.method == "full" && !o.kv_bits.empty()) {
      full_bits = std::atof(o.kv_bits.c_str());
      break;
    }
  if (!(full_bits > 0)) full_bits = 16;
  return r.compression_ratio * 16.0 / full_bits;
}

std::vector<ReductionPick> best_at_reductions(const std::vector<ReportRow>& rows,
                                              const std::vector<double>& targets) {
  std::vector<ReductionPick> out;
  for (const auto& g : groups_of(rows))
    for (double t : targets) {
      ReductionPick p;
      p.group = g;
      p.target = t;
      for (size_t i = 0; i < rows.size(); ++i) {
        const ReportRow& r = rows[i];
        // A small slack: a "4x" configuration may land at 3.9999 after rounding of byte counts.
        if (r.group != g || reduction_vs_fp16(r, rows) < t * (1 - 1e-9)) continue;
        if (p.best < 0 || better(r, rows[p.best])) p.best = static_cast<int>(i);
      }
      if (p.best >= 0)
        for (size_t i = 0; i < rows.size(); ++i) {
          const ReportRow& r = rows[i];
          if (r.group != g || reduction_vs_fp16(r, rows) < t * (1 - 1e-9) ||
              r.method == rows[p.best].method)
            continue;
          if (p.runner_up < 0 || better(r, rows[p.runner_up])) p.runner_up = static_cast<int>(i);
        }
      out.push_back(p);
    }
  return out;
}

std::string equal_memory_csv(const std::vector<ReportRow>& rows, const std::vector<MemoryPair>& pairs) {
  std::string csv =
      "group,bytes_gap,a_label,a_run,a_scheme,a_kv_bytes_per_token,a_reduction_vs_fp16,a_perplexity,"
      "a_gen_token_agreement,b_label,b_run,b_scheme,b_kv_bytes_per_token,b_reduction_vs_fp16,"
      "b_perplexity,b_gen_token_agreement,lower_perplexity\n";
  for (const auto& p : pairs) {
    const ReportRow &a = rows[p.a], &b = rows[p.b];
    const std::vector<std::string> f = {
        a.group, fmt_full(p.rel_gap), a.label, a.run, a.scheme(), fmt_full(a.kv_bytes_per_token),
        fmt_full(reduction_vs_fp16(a, rows)), fmt_full(a.perplexity), fmt_full(a.gen_token_agreement), b.label,
        b.run, b.scheme(), fmt_full(b.kv_bytes_per_token), fmt_full(reduction_vs_fp16(b, rows)),
        fmt_full(b.perplexity), fmt_full(b.gen_token_agreement), better(a, b) ? "a" : "b"};
    for (size_t i = 0; i < f.size(); ++i) csv += (i ? "," : "") + csv_field(f[i]);
    csv += "\n";
  }
  return csv;
}

std::string equal_memory_markdown(const std::vector<ReportRow>& rows,
                                  const std::vector<MemoryPair>& pairs,
                                  const std::vector<ReductionPick>& picks, double tolerance) {
  std::string md = "## Equal memory\n\n";
  md += "Reduction is measured against the full cache stored in 16 bits (fp16): "
        "`compression_ratio_vs_full` × 16 / the full run's `kv_bits`. Scheme = method and storage "
        "bits (`svd 4b had`: 4-bit coefficients after a Hadamard rotation).\n\n";
  md += "### Best configuration at 2x, 4x, 8x less KV memory than fp16 (full)\n\n";
  md += "Best = lowest perplexity among configurations with reduction >= the target; the runner-up "
        "is the best of any other method.\n\n";
  md += "| group | reduction >= | best | scheme | KV B/token | reduction | perplexity | loss | gen agree "
        "| runner-up (other method) | its reduction | its perplexity | its gen agree |\n";
  md += "|---|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|\n";
  for (const auto& p : picks) {
    md += cat("| ", md_cell(p.group), " | ", fmt_fixed(p.target, 0), "x | ");
    if (p.best < 0) {
      md += "none | | | | | | | | | | |\n";
      continue;
    }
    const ReportRow& b = rows[p.best];
    md += cat("`", md_cell(b.id()), "` | ", b.scheme(), " | ", fmt_fixed(b.kv_bytes_per_token, 0), " | ",
              fmt_fixed(reduction_vs_fp16(b, rows), 2), "x | ", fmt_fixed(b.perplexity, 3), " | ",
              fmt_fixed(100 * b.rel_ppl_increase, 2), "% | ", fmt_fixed(b.gen_token_agreement, 3), " | ");
    if (p.runner_up < 0) {
      md += "none | | | |\n";
      continue;
    }
    const ReportRow& r = rows[p.runner_up];
    md += cat("`", md_cell(r.id()), "` | ", fmt_fixed(reduction_vs_fp16(r, rows), 2), "x | ",
              fmt_fixed(r.perplexity, 3), " | ", fmt_fixed(r.gen_token_agreement, 3), " |\n");
  }
  md += cat("\n### Pairs of similar KV memory (within ", fmt_fixed(100 * tolerance, 0),
            "% bytes per token, different schemes)\n\n");
  if (pairs.empty()) return md + "No two configurations of different schemes are that close.\n\n";
  md += "Full list: [equal-memory.csv](equal-memory.csv). **Bold**: the lower perplexity of the pair.\n\n";
  md += "| group | A | scheme | KV B/token | perplexity | gen agree | B | scheme | KV B/token | "
        "perplexity | gen agree | gap |\n";
  md += "|---|---|---|---:|---:|---:|---|---|---:|---:|---:|---:|\n";
  for (const auto& p : pairs) {
    const ReportRow &a = rows[p.a], &b = rows[p.b];
    const bool a_wins = better(a, b);
    auto ppl = [](const ReportRow& r, bool bold) {
      return bold ? "**" + fmt_fixed(r.perplexity, 3) + "**" : fmt_fixed(r.perplexity, 3);
    };
    md += cat("| ", md_cell(a.group), " | `", md_cell(a.id()), "` | ", a.scheme(), " | ",
              fmt_fixed(a.kv_bytes_per_token, 0), " | ", ppl(a, a_wins), " | ",
              fmt_fixed(a.gen_token_agreement, 3), " | `", md_cell(b.id()), "` | ", b.scheme(), " | ",
              fmt_fixed(b.kv_bytes_per_token, 0), " | ", ppl(b, !a_wins), " | ",
              fmt_fixed(b.gen_token_agreement, 3), " | ", fmt_fixed(100 * p.rel_gap, 1), "% |\n");
  }
  return md + "\n";
}

}  // namespace kvsvd
