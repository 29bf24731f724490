// Registers the sweep subcommands: `kvsvd sweep plan` (a sweep YAML -> a manifest of job argument
// lists, each checked through the evaluate / profile flags) and `kvsvd sweep args` (one job's
// arguments, for jobs/*.sbatch).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>

#include "core/util/error.h"
#include "stages/app/run-or-exit.h"
#include "stages/commands.h"
#include "stages/sweep/sweep-manifest.h"
#include "stages/sweep/sweep-plan.h"

namespace fs = std::filesystem;

namespace kvsvd {

namespace {

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

void print_lines(const std::vector<std::string>& v) {
  for (const auto& s : v) {
    // One argument per line: a newline inside one would split it in the job script.
    KVSVD_CHECK(s.find('\n') == std::string::npos, "argument '", s, "' contains a newline");
    std::printf("%s\n", s.c_str());
  }
}

}  // namespace

void register_sweep_commands(CLI::App& app) {
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
