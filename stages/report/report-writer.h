// Writes the report folder: report.md (recommendation, table, plots), table.csv, and gnuplot
// scripts + data rendered to SVG (perplexity vs KV bytes per token; per-layer retained energy).
#pragma once
#include <string>
#include <vector>

#include "stages/report/report-row.h"
#include "stages/report/store-energy.h"
#include "stages/report/tradeoff.h"

namespace kvsvd {

struct ReportOptions {
  std::string out_dir;
  TradeoffTarget target;
  bool plots = true;            // write and render the gnuplot scripts
  std::string gnuplot = "gnuplot";
};

struct ReportFiles {
  std::string markdown, csv;
  std::vector<std::string> plots;  // rendered SVGs
  std::vector<std::string> notes;  // e.g. "gnuplot not found: plots not rendered"
};

// Creates out_dir. `energy` may be null (no --store).
ReportFiles write_report(const std::vector<ReportRow>& rows, const std::vector<Recommendation>& recs,
                         const std::vector<std::string>& sources, const StoreEnergy* energy,
                         const ReportOptions& opt);

}  // namespace kvsvd
