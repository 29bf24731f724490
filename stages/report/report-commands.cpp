// Registers the report-stage subcommand: `kvsvd report`.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>

#include "core/util/error.h"
#include "stages/app/run-or-exit.h"
#include "stages/commands.h"
#include "stages/report/report-options.h"
#include "stages/report/report-row.h"
#include "stages/report/report-writer.h"
#include "stages/report/store-energy.h"
#include "stages/report/tradeoff.h"

namespace kvsvd {

namespace {

void run_report(const ReportArgs& a) {
  const std::vector<std::string> sources = find_summaries(a.inputs);
  std::vector<ReportRow> rows;
  int64_t baselines_merged = 0;
  for (const auto& s : sources) {
    auto more = load_summary(s);
    for (auto& r : more) {
      for (const auto& o : rows)
        KVSVD_CHECK(o.id() != r.id(), s, ": configuration '", r.id(), "' also comes from ", o.source,
                    " (two runs with the same folder name)");
      // Every evaluate run measures the full baseline on its own windows; runs of one group (same
      // dataset, windows, storage) give the same full figures, shown once.
      const bool repeated_baseline =
          r.method == "full" && std::any_of(rows.begin(), rows.end(), [&](const ReportRow& o) {
            return o.method == "full" && o.group == r.group && o.kv_bits == r.kv_bits &&
                   o.perplexity == r.perplexity && o.kv_bytes_per_token == r.kv_bytes_per_token;
          });
      if (repeated_baseline) {
        ++baselines_merged;
        continue;
      }
      rows.push_back(std::move(r));
    }
  }
  if (baselines_merged > 0)
    std::fprintf(stderr, "kvsvd report: note: %lld repeated full baseline row(s) shown once\n",
                 static_cast<long long>(baselines_merged));
  mark_pareto_front(rows);
  ReportOptions opt;
  opt.out_dir = a.out;
  opt.target = {a.reduction, a.loss};
  opt.plots = !a.no_plots;
  opt.gnuplot = a.gnuplot;
  const auto recs = recommend(rows, opt.target);
  StoreEnergy energy;
  if (!a.store.empty()) energy = read_store_energy(a.store);
  const ReportFiles files = write_report(rows, recs, sources, a.store.empty() ? nullptr : &energy, opt);
  for (const auto& n : files.notes) std::fprintf(stderr, "kvsvd report: note: %s\n", n.c_str());
  for (const auto& rec : recs) {
    if (rec.best >= 0)
      std::printf("recommended%s%s: %s\n", recs.size() > 1 ? " for " : "",
                  recs.size() > 1 ? rec.group.c_str() : "", rows[rec.best].id().c_str());
    else
      std::printf("none meets both%s%s (reduction >= %g, loss <= %g)\n", recs.size() > 1 ? " for " : "",
                  recs.size() > 1 ? rec.group.c_str() : "", a.reduction, a.loss);
  }
  std::printf("report: %s (%zu configurations), table: %s\n", files.markdown.c_str(), rows.size(),
              files.csv.c_str());
}

}  // namespace

void register_report_commands(CLI::App& app) {
  auto a = std::make_shared<ReportArgs>();
  CLI::App* rep = app.add_subcommand(
      "report", "Merge evaluate runs into a table (report.md, table.csv), mark the memory/quality "
                "Pareto front, recommend a configuration, plot with gnuplot");
  add_report_options(*rep, *a);
  rep->callback([a] { run_or_exit("report", [&] { run_report(*a); }); });

}

}  // namespace kvsvd
