#include "stages/report/report-options.h"

#include <CLI/CLI.hpp>

#include "stages/app/option-check.h"
#include "stages/app/yaml-options.h"

namespace kvsvd {

void add_report_options(CLI::App& app, ReportArgs& a) {
  app.add_option("results", a.inputs,
                 "Run folders (holding summary.json), summary.json files, or folders of run folders")
      ->required();
  app.add_option("--out", a.out, "Report folder (created)")->required();
  with_check(app.add_option("--target-memory-reduction", a.reduction,
                            "Recommend only configs whose compression_ratio_vs_full is at least "
                            "this (2 = half the full cache)")
                 ->capture_default_str(),
             at_least(1));
  with_check(app.add_option("--max-quality-loss", a.loss,
                            "... and whose perplexity rises by at most this fraction of the full "
                            "cache's (0.05 = 5%)")
                 ->capture_default_str(),
             at_least(0));
  app.add_option("--store", a.store, "Profile store (.h5) for the per-layer retained-energy plot");
  app.add_flag("--no-plots", a.no_plots, "Write no gnuplot scripts or SVGs");
  app.add_option("--gnuplot", a.gnuplot, "gnuplot program (default: gnuplot on PATH)")
      ->capture_default_str();
}

ReportArgs parse_report_args(const std::vector<std::string>& args) {
  CLI::App app{"kvsvd report"};
  ReportArgs a;
  add_report_options(app, a);
  parse_args(app, args);
  return a;
}

}  // namespace kvsvd
