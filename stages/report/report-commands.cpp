// Registers the report-stage subcommands: `kvsvd report` and `kvsvd sweep plan|args`.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/util/cli-run.h"
#include "core/util/error.h"
#include "stages/commands.h"
#include "stages/report/report-row.h"
#include "stages/report/report-writer.h"
#include "stages/report/store-energy.h"
#include "stages/report/sweep-manifest.h"
#include "stages/report/sweep-plan.h"
#include "stages/report/tradeoff.h"

namespace fs = std::filesystem;

namespace kvsvd {

namespace {

// CLI11 turns this into the process exit code without printing anything more.
void run_or_exit(const std::string& name, const std::function<void()>& body) {
  const int rc = run_command(name, body);
  if (rc != 0) throw CLI::RuntimeError(rc);
}

void write_text_atomically(const std::string& path, const std::string& text) {
  const fs::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(p.parent_path(), ec);
    KVSVD_CHECK(!ec, "--out ", path, ": cannot create ", p.parent_path().string(), " (",
                ec.message(), ")");
  }
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    KVSVD_CHECK(out.good(), "cannot write ", tmp);
    out << text;
    out.close();
    KVSVD_CHECK(out.good(), "error while writing ", tmp);
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);  // a reader never sees half a manifest
  KVSVD_CHECK(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
}

struct ReportArgs {
  std::vector<std::string> inputs;
  std::string out;
  double reduction = 2.0;
  double loss = 0.05;
  std::string store;
  bool no_plots = false;
  std::string gnuplot = "gnuplot";
};

void run_report(const ReportArgs& a) {
  KVSVD_CHECK(a.reduction >= 1, "--target-memory-reduction must be >= 1 (2 = half the full cache)");
  KVSVD_CHECK(a.loss >= 0, "--max-quality-loss must be >= 0 (0.05 = 5% perplexity increase)");
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

void print_lines(const std::vector<std::string>& v) {
  for (const auto& s : v) {
    // One argument per line: a newline inside one would split it in the job script.
    KVSVD_CHECK(s.find('\n') == std::string::npos, "argument '", s, "' contains a newline");
    std::printf("%s\n", s.c_str());
  }
}

}  // namespace

void register_report_commands(CLI::App& app) {
  // ---- kvsvd report
  auto a = std::make_shared<ReportArgs>();
  CLI::App* rep = app.add_subcommand(
      "report", "Merge evaluate runs into a table (report.md, table.csv), mark the memory/quality "
                "Pareto front, recommend a configuration, plot with gnuplot");
  rep->add_option("results", a->inputs,
                  "Run folders (holding summary.json), summary.json files, or folders of run folders")
      ->required();
  rep->add_option("--out", a->out, "Report folder (created)")->required();
  rep->add_option("--target-memory-reduction", a->reduction,
                  "Recommend only configs whose compression_ratio_vs_full is at least this (default 2)");
  rep->add_option("--max-quality-loss", a->loss,
                  "... and whose perplexity rises by at most this fraction of the full cache's "
                  "(default 0.05 = 5%)");
  rep->add_option("--store", a->store, "Profile store (.h5) for the per-layer retained-energy plot");
  rep->add_flag("--no-plots", a->no_plots, "Write no gnuplot scripts or SVGs");
  rep->add_option("--gnuplot", a->gnuplot, "gnuplot program (default: gnuplot on PATH)");
  rep->callback([a] { run_or_exit("report", [&] { run_report(*a); }); });

  // ---- kvsvd sweep plan | args
  CLI::App* sweep = app.add_subcommand("sweep", "Plan a sweep of profile/evaluate jobs; read its manifest");
  sweep->require_subcommand(1);

  struct PlanArgs {
    std::string sweep_file, out;
    bool no_check = false;
  };
  auto p = std::make_shared<PlanArgs>();
  CLI::App* plan = sweep->add_subcommand(
      "plan", "Expand a sweep YAML (datasets, profiles, grid and/or runs) into a manifest of job "
              "argument lists (keys: see config/sweeps/sotu-tiny.yaml)");
  plan->add_option("sweep", p->sweep_file, "Sweep YAML")->required();
  plan->add_option("--out", p->out, "Manifest JSON to write")->required();
  plan->add_flag("--no-check-paths", p->no_check,
                 "Do not require the model, tokenizer and data files to exist now");
  plan->callback([p] {
    run_or_exit("sweep plan", [&] {
      SweepPlanOptions opt;
      opt.check_paths = !p->no_check;
      std::vector<std::string> notes;
      const Manifest m = plan_sweep(p->sweep_file, opt, &notes);
      write_text_atomically(p->out, manifest_to_json(m).dump(2) + "\n");
      for (const auto& n : notes) std::fprintf(stderr, "kvsvd sweep plan: note: %s\n", n.c_str());
      std::printf("sweep %s: %zu profile job%s, %zu evaluate run%s -> %s\n", m.name.c_str(),
                  m.profiles.size(), m.profiles.size() == 1 ? "" : "s", m.runs.size(),
                  m.runs.size() == 1 ? "" : "s", p->out.c_str());
    });
  });

  struct ArgsArgs {
    std::string manifest, profile, list, field = "args";
    int64_t run = -1;
    bool report = false;
  };
  auto g = std::make_shared<ArgsArgs>();
  CLI::App* args = sweep->add_subcommand(
      "args", "Print one job's arguments from a manifest, one per line (used by jobs/*.sbatch)");
  args->add_option("manifest", g->manifest, "Manifest (JSON from `sweep plan`, a JSON array of "
                                            "runs, or JSON lines)")->required();
  auto* o_prof = args->add_option("--profile", g->profile, "The profile job with this id");
  auto* o_run = args->add_option("--run", g->run, "The evaluate run at this index (array task id)");
  auto* o_rep = args->add_flag("--report", g->report, "The report job");
  auto* o_list = args->add_option("--list", g->list, "Print the profile ids or run names instead")
                     ->check(CLI::IsMember({"profiles", "runs"}));
  args->add_option("--field", g->field, "What to print for the job: args (default), out_dir, "
                                        "store_path, name, profile_id")
      ->check(CLI::IsMember({"args", "out_dir", "store_path", "name", "profile_id"}));
  o_prof->excludes(o_run)->excludes(o_rep)->excludes(o_list);
  o_run->excludes(o_rep)->excludes(o_list);
  o_rep->excludes(o_list);
  args->callback([g] {
    run_or_exit("sweep args", [&] {
      const Manifest m = load_manifest(g->manifest);
      if (!g->list.empty()) {
        std::vector<std::string> out;
        if (g->list == "profiles")
          for (const auto& pr : m.profiles) out.push_back(pr.id);
        else
          for (const auto& r : m.runs) out.push_back(r.name);
        print_lines(out);
        return;
      }
      auto bad_field = [&](const char* job) {
        fail(cat("--field ", g->field, " does not apply to ", job));
      };
      if (!g->profile.empty()) {
        for (const auto& pr : m.profiles) {
          if (pr.id != g->profile) continue;
          if (g->field == "args") print_lines(pr.args);
          else if (g->field == "store_path") print_lines({pr.store_path});
          else if (g->field == "name") print_lines({pr.id});
          else bad_field("a profile job");
          return;
        }
        fail(cat(g->manifest, ": no profile '", g->profile, "'"));
      }
      if (g->run >= 0) {
        KVSVD_CHECK(g->run < static_cast<int64_t>(m.runs.size()), g->manifest, ": --run ", g->run,
                    " is out of range: the manifest has ", m.runs.size(), " runs (0..",
                    static_cast<int64_t>(m.runs.size()) - 1, ")");
        const ManifestRun& r = m.runs[g->run];
        std::string store;
        for (const auto& pr : m.profiles)
          if (pr.id == r.profile_id) store = pr.store_path;
        if (g->field == "args") print_lines(r.args);
        else if (g->field == "out_dir") print_lines({r.out_dir});
        else if (g->field == "name") print_lines({r.name});
        else if (g->field == "profile_id") print_lines({r.profile_id});
        else print_lines({store});
        return;
      }
      if (g->report) {
        KVSVD_CHECK(!m.report_args.empty(), g->manifest, ": has no report job (not a `sweep plan` manifest)");
        if (g->field == "args") print_lines(m.report_args);
        else if (g->field == "out_dir") print_lines({m.report_dir});
        else bad_field("the report job");
        return;
      }
      fail("say which job: --profile ID, --run INDEX, --report or --list profiles|runs");
    });
  });
}

}  // namespace kvsvd
