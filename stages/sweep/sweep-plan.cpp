#include "stages/sweep/sweep-plan.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include "core/util/error.h"
#include "core/util/json-util.h"
#include "core/util/text-parse.h"
#include "core/util/yaml-util.h"
#include "stages/app/yaml-options.h"
#include "stages/evaluate/evaluate-options.h"
#include "stages/profile/profile-options.h"
#include "stages/report/report-options.h"
#include "stages/sweep/sweep-vocab.h"

namespace fs = std::filesystem;

namespace kvsvd {

namespace {

// How a sweep key becomes part of a job's arguments and of a generated run name. Whether a
// value is valid is not decided here: every value goes through the flag of the same name in the
// evaluate or profile stage's own CLI11 app (stages/*/...-options.cpp), and every planned job's
// whole argument list is parsed by that app once more.
enum class Kind {
  Flag,     // --key VALUE, the value as written
  Bool,     // --key / --no-key
  Path,     // --key PATH, relative to the sweep's base directory, must exist
  Ranks,    // --key "low=16,..." from a map or a string; named by its digits
  Policy,   // --key SPEC; named by SPEC with '_' for anything but [A-Za-z0-9.-_]
  Method,   // --method NAME (the cache method picks the keys a run reads)
  Profile,  // a profile's name: --store of that profile's store
  Dataset,  // a dataset's name: --dataset and --dataset-format of that dataset
  Name,     // the job's name (no flag)
  Args,     // extra_args: passed through verbatim
};
// Which cache methods read an evaluate key (see SweepMethodUse).
enum class Use { All, Ranks, Chunks, Profile, Quant, Residual };

// One row per key a sweep may set, in the order flags are emitted. `tag` prefixes the value in
// generated run names.
struct KeyRow {
  const char* key;
  Kind kind;
  Use use;
  const char* tag;
};

const std::vector<KeyRow>& eval_keys() {
  static const std::vector<KeyRow> rows = {
      {"name", Kind::Name, Use::All, ""},
      {"method", Kind::Method, Use::All, ""},
      {"profile", Kind::Profile, Use::Profile, ""},
      {"dataset", Kind::Dataset, Use::All, ""},
      {"key_rank", Kind::Flag, Use::Ranks, "k"},
      {"value_ranks", Kind::Ranks, Use::Ranks, "v"},
      {"policy", Kind::Policy, Use::Ranks, ""},
      {"chunk_size", Kind::Flag, Use::Chunks, "c"},
      {"compression_ratio", Kind::Flag, Use::Chunks, "x"},
      {"kv_bits", Kind::Flag, Use::Quant, ""},
      {"quant_group", Kind::Flag, Use::Quant, "g"},
      {"residual", Kind::Flag, Use::Residual, "r"},
      {"hadamard", Kind::Bool, Use::Ranks, ""},
      {"seq_len", Kind::Flag, Use::All, "L"},
      {"stride", Kind::Flag, Use::All, "s"},
      {"max_windows", Kind::Flag, Use::All, "w"},
      {"gen_tokens", Kind::Flag, Use::All, "g"},
      {"config", Kind::Path, Use::All, "cfg-"},
      {"extra_args", Kind::Args, Use::All, ""},
  };
  return rows;
}

const std::vector<KeyRow>& profile_keys() {
  static const std::vector<KeyRow> rows = {
      {"name", Kind::Name, Use::All, ""},
      {"method", Kind::Flag, Use::All, ""},
      {"key_rank", Kind::Flag, Use::All, ""},
      {"value_ranks", Kind::Ranks, Use::All, ""},
      {"energy_threshold", Kind::Flag, Use::All, ""},
      {"min_rank_ratio", Kind::Flag, Use::All, ""},
      {"calib_data", Kind::Path, Use::All, ""},
      {"calib_format", Kind::Flag, Use::All, ""},
      {"calib_tokens", Kind::Flag, Use::All, ""},
      {"seq_len", Kind::Flag, Use::All, ""},
      {"config", Kind::Path, Use::All, ""},
      {"extra_args", Kind::Args, Use::All, ""},
  };
  return rows;
}

// "--key-rank" for key_rank.
std::string flag_of(const KeyRow& row) {
  std::string f = std::string("--") + row.key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

const std::vector<std::string> kTopKeys = {"name",     "model",   "tokenizer", "datasets",
                                           "base",     "profiles", "grid",     "runs",
                                           "report",   "out_root", "store_root"};
const std::vector<std::string> kDatasetKeys = {"name", "path", "format"};
const std::vector<std::string> kReportKeys = {"out", "target_memory_reduction", "max_quality_loss",
                                              "energy_profile"};

std::vector<std::string> key_names(const std::vector<KeyRow>& rows, bool grid) {
  std::vector<std::string> out;
  for (const auto& r : rows)
    if (!grid || (r.kind != Kind::Name && r.kind != Kind::Args)) out.push_back(r.key);
  return out;
}

const KeyRow& find_row(const std::vector<KeyRow>& rows, const std::string& key) {
  for (const auto& r : rows)
    if (key == r.key) return r;
  fail(cat("internal: no key row for '", key, "'"));
}

// Names become folder and job names: keep them to a portable alphabet.
std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_';
    out += ok ? c : '_';
  }
  return out;
}

// "low=16,med=32,high=64" -> "16-32-64": the ranks, as they read in a run name.
std::string digit_runs(const std::string& s) {
  std::string out;
  bool in_run = false;
  for (char c : s) {
    const bool digit = c >= '0' && c <= '9';
    if (digit && !in_run && !out.empty()) out += '-';
    if (digit) out += c;
    in_run = digit;
  }
  return out;
}

void check_name(const std::string& name, const std::string& what, const std::string& where) {
  KVSVD_CHECK(!name.empty() && sanitize(name) == name && name[0] != '.' && name[0] != '-', where,
              ": ", what, " '", name, "' must use only letters, digits, '.', '-' and '_' ",
              "(it names files and jobs)");
}

// A checked value as it goes on the command line, plus how it reads in a run name.
struct Value {
  std::vector<std::string> text;  // one element, except extra_args
  std::string label;
  std::string where;
};

struct Context {
  std::string source;
  SweepPlanOptions opt;
  fs::path base_dir;

  std::string path(const YAML::Node& node, const std::string& what, bool must_exist,
                    bool directory = false) const {
    const std::string raw = yaml_string(node, what, source);
    KVSVD_CHECK(!raw.empty(), yaml_where(node, source), ": ", what, " is empty");
    fs::path p(raw);
    if (p.is_relative()) p = base_dir / p;
    p = p.lexically_normal();
    if (must_exist && opt.check_paths) {
      std::error_code ec;
      const bool ok = directory ? fs::is_directory(p, ec) : fs::exists(p, ec);
      KVSVD_CHECK(ok, yaml_where(node, source), ": ", what, " '", p.string(), "' ",
                  directory ? "is not a directory" : "does not exist");
    }
    return p.string();
  }
};

Value parse_value(const KeyRow& row, const YAML::Node& node, const Context& ctx, CLI::App& stage) {
  const std::string what = row.key;
  Value v;
  v.where = yaml_where(node, ctx.source);
  // The stage flag of the same name checks the value (and names this file, line and key).
  const bool is_flag = row.kind != Kind::Name && row.kind != Kind::Profile &&
                       row.kind != Kind::Dataset && row.kind != Kind::Args && what != "config";
  if (is_flag) set_option_from_yaml(stage, what, node, ctx.source);
  auto one = [&](const std::string& s, const std::string& label) {
    v.text = {s};
    v.label = label;
  };
  switch (row.kind) {
    case Kind::Flag:
    case Kind::Method: {
      // Kept as written: it is what the user reads in the run name and the log.
      const std::string s = yaml_string(node, what, ctx.source);
      one(s, cat(row.tag, s));
      break;
    }
    case Kind::Path: {
      const std::string p = ctx.path(node, what, true);
      one(p, cat(row.tag, fs::path(p).stem().string()));
      break;
    }
    case Kind::Ranks: {
      std::string text, label;
      if (node.IsMap()) {
        for (auto it = node.begin(); it != node.end(); ++it) {
          const std::string level = yaml_string(it->first, "value_ranks level", ctx.source);
          const std::string r = yaml_string(it->second, cat("value_ranks.", level), ctx.source);
          text += cat(text.empty() ? "" : ",", level, "=", r);
          label += cat(label.empty() ? "" : "-", r);
        }
      } else {
        text = yaml_string(node, what, ctx.source);
        label = digit_runs(text);
      }
      one(text, cat(row.tag, label));
      break;
    }
    case Kind::Policy: {
      const std::string s = yaml_string(node, what, ctx.source);
      one(s, sanitize(s));
      break;
    }
    case Kind::Profile:
    case Kind::Dataset:
    case Kind::Name: {
      const std::string s = yaml_string(node, what, ctx.source);
      check_name(s, what, v.where);
      one(s, s);
      break;
    }
    case Kind::Bool: {
      // Emitted as the flag itself (--hadamard) or its negation (--no-hadamard).
      const bool b = to_bool(yaml_string(node, what, ctx.source), v.where);
      one(b ? "true" : "false", b ? "had" : "");
      break;
    }
    case Kind::Args: {
      for (const auto& item : yaml_items(node, what, ctx.source))
        v.text.push_back(yaml_string(item, "extra_args item", ctx.source));
      break;
    }
  }
  return v;
}

// Parses a planned job's arguments through its stage's app (every flag's check, the config it
// names, the checks across flags); errors name `where` and the job. extra_args are the user's
// own pass-through and are left out of the check; so is --config when paths are not checked.
template <typename ParseArgs>
void check_job_args(ParseArgs&& parse, std::vector<std::string> args, size_t n_extra,
                    bool check_paths, const std::string& where, const std::string& job) {
  args.erase(args.end() - static_cast<std::ptrdiff_t>(n_extra), args.end());
  if (!check_paths)
    for (size_t i = 0; i + 1 < args.size(); ++i)
      if (args[i] == "--config") args.erase(args.begin() + static_cast<std::ptrdiff_t>(i),
                                            args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
  try {
    parse(args);
  } catch (const CLI::ParseError& e) {
    fail(cat(where, ": ", job, ": ", e.what()));
  } catch (const Error& e) {
    fail(cat(where, ": ", job, ": ", e.what()));
  }
}

using Values = std::map<std::string, Value>;

// A map of evaluate keys (base or one explicit run).
Values parse_eval_map(const YAML::Node& node, const std::string& what, bool allow_name,
                      const Context& ctx, CLI::App& eval_app) {
  auto allowed = key_names(eval_keys(), false);
  if (!allow_name) allowed.erase(allowed.begin());  // "name" is the first row
  yaml_check_keys(node, allowed, what, ctx.source);
  Values out;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    out[key] = parse_value(find_row(eval_keys(), key), it->second, ctx, eval_app);
  }
  return out;
}

struct Dataset {
  std::string name, path, format, where;
};

struct Profile {
  ManifestProfile m;
  std::string where;
  bool used = false;
};

struct Point {
  Values values;       // what the grid point or explicit run sets (base not included)
  bool explicit_run;   // from `runs:` (keys a method ignores are errors there)
  std::string where;
};

}  // namespace

Manifest plan_sweep_text(const std::string& yaml_text, const std::string& source,
                         const SweepPlanOptions& opt, std::vector<std::string>* notes) {
  Context ctx;
  ctx.source = source;
  ctx.opt = opt;
  ctx.base_dir = opt.base_dir.empty() ? fs::current_path() : fs::path(opt.base_dir);
  ctx.base_dir = fs::absolute(ctx.base_dir);
  // The stages' own flags check every value (scratch options: only the checks matter here).
  CLI::App eval_app, profile_app, report_app;
  EvaluateOptions eval_scratch;
  ProfileOptions profile_scratch;
  ReportArgs report_scratch;
  add_evaluate_options(eval_app, eval_scratch);
  add_profile_options(profile_app, profile_scratch);
  add_report_options(report_app, report_scratch);

  const YAML::Node doc = parse_yaml(yaml_text, source);
  KVSVD_CHECK(doc.IsMap(), source, ": a sweep must be a map of keys (name, model, datasets, ...)");
  yaml_check_keys(doc, kTopKeys, "the sweep", source);
  auto require = [&](const char* key) {
    const YAML::Node n = doc[key];
    KVSVD_CHECK(n.IsDefined() && !n.IsNull(), source, ": missing required key '", key, "'");
    return n;
  };

  Manifest m;
  m.name = yaml_string(require("name"), "name", source);
  check_name(m.name, "sweep name", yaml_where(doc["name"], source));
  m.sweep_file = fs::absolute(fs::path(source)).lexically_normal().string();
  const std::string model = ctx.path(require("model"), "model", true, true);
  std::string tokenizer;
  if (doc["tokenizer"].IsDefined() && !doc["tokenizer"].IsNull())
    tokenizer = ctx.path(doc["tokenizer"], "tokenizer", true);
  auto root_dir = [&](const char* key, const char* fallback) {
    const YAML::Node n = doc[key];
    const std::string raw = n.IsDefined() ? yaml_string(n, key, source) : fallback;
    fs::path p(raw);
    if (p.is_relative()) p = ctx.base_dir / p;
    return (p / m.name).lexically_normal();
  };
  const fs::path out_root = root_dir("out_root", "results/runs");
  const fs::path store_root = root_dir("store_root", "results/stores");

  // Datasets.
  const YAML::Node dnode = require("datasets");
  yaml_require_seq(dnode, "datasets", source);
  KVSVD_CHECK(dnode.size() > 0, yaml_where(dnode, source), ": datasets is empty");
  std::vector<Dataset> datasets;
  for (size_t i = 0; i < dnode.size(); ++i) {
    const YAML::Node d = dnode[i];
    const std::string what = cat("datasets[", i, "]");
    yaml_check_keys(d, kDatasetKeys, what, source);
    Dataset ds;
    ds.where = yaml_where(d, source);
    KVSVD_CHECK(d["name"].IsDefined(), ds.where, ": ", what, " needs a 'name'");
    KVSVD_CHECK(d["path"].IsDefined(), ds.where, ": ", what, " needs a 'path'");
    ds.name = yaml_string(d["name"], "dataset name", source);
    check_name(ds.name, "dataset name", yaml_where(d["name"], source));
    for (const auto& o : datasets)
      KVSVD_CHECK(o.name != ds.name, yaml_where(d["name"], source), ": dataset '", ds.name,
                  "' is defined twice (first at ", o.where, ")");
    ds.path = ctx.path(d["path"], cat("dataset '", ds.name, "' path"), true);
    if (d["format"].IsDefined()) {
      ds.format = yaml_string(d["format"], "format", source);
      set_option_from_yaml(eval_app, "dataset_format", d["format"], source);
    }
    datasets.push_back(ds);
  }
  auto find_dataset = [&](const Value& v) -> const Dataset& {
    for (const auto& d : datasets)
      if (d.name == v.text[0]) return d;
    fail(cat(v.where, ": unknown dataset '", v.text[0], "' (not in datasets)"));
  };

  // Profiles.
  std::vector<Profile> profiles;
  if (doc["profiles"].IsDefined() && !doc["profiles"].IsNull()) {
    const YAML::Node pnode = doc["profiles"];
    yaml_require_seq(pnode, "profiles", source);
    for (size_t i = 0; i < pnode.size(); ++i) {
      const YAML::Node p = pnode[i];
      const std::string what = cat("profiles[", i, "]");
      yaml_check_keys(p, key_names(profile_keys(), false), what, source);
      Profile prof;
      prof.where = yaml_where(p, source);
      KVSVD_CHECK(p["name"].IsDefined(), prof.where, ": ", what, " needs a 'name'");
      prof.m.id = parse_value(profile_keys()[0], p["name"], ctx, profile_app).text[0];
      for (const auto& o : profiles)
        KVSVD_CHECK(o.m.id != prof.m.id, yaml_where(p["name"], source), ": profile '", prof.m.id,
                    "' is defined twice (first at ", o.where, ")");
      prof.m.store_path = (store_root / (prof.m.id + ".h5")).string();
      prof.m.args = {"--model", model, "--out", prof.m.store_path};
      if (!tokenizer.empty()) prof.m.args.insert(prof.m.args.end(), {"--tokenizer", tokenizer});
      size_t n_extra = 0;
      for (const auto& row : profile_keys()) {  // table order, not YAML order: stable args
        if (row.kind == Kind::Name || !p[row.key].IsDefined()) continue;
        const Value v = parse_value(row, p[row.key], ctx, profile_app);
        if (row.kind != Kind::Args) prof.m.args.push_back(flag_of(row));
        prof.m.args.insert(prof.m.args.end(), v.text.begin(), v.text.end());
        if (row.kind == Kind::Args) n_extra = v.text.size();
      }
      check_job_args(parse_profile_args, prof.m.args, n_extra, opt.check_paths, prof.where,
                     cat("profile '", prof.m.id, "'"));
      profiles.push_back(prof);
    }
  }
  auto find_profile = [&](const Value& v) -> Profile& {
    for (auto& p : profiles)
      if (p.m.id == v.text[0]) return p;
    fail(cat(v.where, ": unknown profile '", v.text[0], "' (not in profiles)"));
  };

  // Base, grid points and explicit runs.
  Values base;
  if (doc["base"].IsDefined() && !doc["base"].IsNull())
    base = parse_eval_map(doc["base"], "base", false, ctx, eval_app);

  std::vector<Point> points;
  const YAML::Node grid = doc["grid"];
  const YAML::Node runs = doc["runs"];
  const bool has_grid = grid.IsDefined() && !grid.IsNull();
  const bool has_runs = runs.IsDefined() && !runs.IsNull();
  KVSVD_CHECK(has_grid || has_runs, source, ": the sweep needs 'grid:' or 'runs:' (or both)");
  if (has_grid) {
    yaml_check_keys(grid, key_names(eval_keys(), true), "grid", source);
    // Cartesian product in YAML key order, the last key varying fastest.
    std::vector<Point> acc = {Point{{}, false, yaml_where(grid, source)}};
    for (auto it = grid.begin(); it != grid.end(); ++it) {
      const std::string key = it->first.Scalar();
      const KeyRow& row = find_row(eval_keys(), key);
      std::vector<Value> vals;
      for (const auto& item : yaml_items(it->second, cat("grid.", key), source))
        vals.push_back(parse_value(row, item, ctx, eval_app));
      std::vector<Point> next;
      for (const auto& p : acc)
        for (const auto& v : vals) {
          Point q = p;
          q.values[key] = v;
          next.push_back(q);
        }
      acc.swap(next);
    }
    points.insert(points.end(), acc.begin(), acc.end());
  }
  if (has_runs) {
    yaml_require_seq(runs, "runs", source);
    for (size_t i = 0; i < runs.size(); ++i)
      points.push_back(Point{parse_eval_map(runs[i], cat("runs[", i, "]"), true, ctx, eval_app), true,
                             yaml_where(runs[i], source)});
  }

  // Expand each point into runs (one per dataset when the point names none).
  std::set<std::vector<std::string>> seen_args;
  std::set<std::string> names;
  size_t merged = 0;
  for (const auto& pt : points) {
    std::vector<const Dataset*> ds_list;
    if (pt.values.count("dataset")) {
      ds_list.push_back(&find_dataset(pt.values.at("dataset")));
    } else if (base.count("dataset")) {
      ds_list.push_back(&find_dataset(base.at("dataset")));
    } else {
      for (const auto& d : datasets) ds_list.push_back(&d);
    }
    const Value* method_v = pt.values.count("method") ? &pt.values.at("method")
                            : base.count("method") ? &base.at("method") : nullptr;
    KVSVD_CHECK(method_v, pt.where, ": no method for this ", pt.explicit_run ? "run" : "grid",
                " (set 'method' in base, grid or the run)");
    const std::string method = method_v->text[0];
    const SweepMethodUse use = sweep_method_use(method, method_v->where);
    auto relevant = [&](const KeyRow& row) {
      switch (row.use) {
        case Use::All: return true;
        case Use::Ranks: return use.ranks;
        case Use::Chunks: return use.chunks;
        case Use::Profile: return use.needs_profile;
        case Use::Quant: return use.quant;
        case Use::Residual: return use.residual;
      }
      return false;
    };
    // Effective values: base, overridden by the point; keys the method ignores dropped.
    Values eff;
    std::set<std::string> from_point;
    for (const auto& kv : base)
      if (relevant(find_row(eval_keys(), kv.first))) eff[kv.first] = kv.second;
    for (const auto& kv : pt.values) {
      const KeyRow& row = find_row(eval_keys(), kv.first);
      if (!relevant(row)) {
        KVSVD_CHECK(!pt.explicit_run, kv.second.where, ": key '", kv.first,
                    "' is not used by method '", method, "'");
        continue;
      }
      eff[kv.first] = kv.second;
      from_point.insert(kv.first);
    }
    Profile* prof = nullptr;
    if (use.needs_profile) {
      if (eff.count("profile")) {
        prof = &find_profile(eff.at("profile"));
      } else {
        KVSVD_CHECK(profiles.size() == 1, pt.where, ": method '", method,
                    "' needs a profile: set 'profile' (", profiles.size(),
                    " profiles are defined, so none is implied)");
        prof = &profiles[0];
      }
    }
    for (const Dataset* ds : ds_list) {
      ManifestRun run;
      run.method = method;
      run.dataset = ds->name;
      run.args = {"--model", model};
      if (!tokenizer.empty()) run.args.insert(run.args.end(), {"--tokenizer", tokenizer});
      run.args.insert(run.args.end(), {"--dataset", ds->path});
      if (!ds->format.empty()) run.args.insert(run.args.end(), {"--dataset-format", ds->format});
      run.args.insert(run.args.end(), {"--method", method});
      if (prof) {
        run.profile_id = prof->m.id;
        run.args.insert(run.args.end(), {"--store", prof->m.store_path});
      }
      std::string auto_name = method;
      size_t n_extra = 0;
      for (const auto& row : eval_keys()) {
        if (row.kind == Kind::Name || row.kind == Kind::Method || row.kind == Kind::Dataset)
          continue;
        if (!eff.count(row.key)) continue;
        const Value& v = eff.at(row.key);
        if (row.kind == Kind::Bool) {
          run.args.push_back(v.text[0] == "true" ? flag_of(row) : "--no-" + flag_of(row).substr(2));
        } else if (row.kind == Kind::Args) {
          run.args.insert(run.args.end(), v.text.begin(), v.text.end());
          n_extra = v.text.size();
        } else if (row.kind != Kind::Profile) {
          run.args.push_back(flag_of(row));
          run.args.insert(run.args.end(), v.text.begin(), v.text.end());
        }
        if (from_point.count(row.key) && !v.label.empty()) auto_name += "-" + v.label;
      }
      if (datasets.size() > 1) auto_name += "-" + ds->name;
      if (!seen_args.insert(run.args).second) {
        ++merged;  // the same evaluate command as an earlier point: run it once
        continue;
      }
      if (pt.values.count("name")) {
        run.name = pt.values.at("name").text[0];
        if (ds_list.size() > 1) run.name += "-" + ds->name;
        KVSVD_CHECK(!names.count(run.name), pt.values.at("name").where, ": run name '", run.name,
                    "' is used twice");
      } else {
        run.name = auto_name;
        for (int k = 2; names.count(run.name); ++k) run.name = cat(auto_name, "-", k);
      }
      names.insert(run.name);
      check_job_args(parse_evaluate_args, run.args, n_extra, opt.check_paths, pt.where,
                     cat("run '", run.name, "'"));
      run.out_dir = (out_root / run.name).string();
      run.args.insert(run.args.end(), {"--out", run.out_dir});
      run.id = static_cast<int64_t>(m.runs.size());
      if (prof) prof->used = true;
      m.runs.push_back(run);
    }
  }
  KVSVD_CHECK(!m.runs.empty(), source, ": the sweep expands to no runs");

  for (const auto& p : profiles) {
    if (p.used)
      m.profiles.push_back(p.m);
    else if (notes)
      notes->push_back(cat("profile '", p.m.id, "' (", p.where, ") is read by no run: not planned"));
  }
  if (merged && notes)
    notes->push_back(cat(merged, " grid points repeat an earlier run's command (keys the method ",
                         "ignores): planned once"));

  // The report over exactly this sweep's runs.
  const YAML::Node rep = doc["report"];
  const bool has_report = rep.IsDefined() && !rep.IsNull();
  if (has_report) yaml_check_keys(rep, kReportKeys, "report", source);
  {
    fs::path out = ctx.base_dir / "results/reports" / m.name;
    if (has_report && rep["out"].IsDefined()) {
      out = fs::path(yaml_string(rep["out"], "report.out", source));
      if (out.is_relative()) out = ctx.base_dir / out;
    }
    m.report_dir = out.lexically_normal().string();
  }
  for (const auto& r : m.runs) m.report_args.push_back(r.out_dir);
  m.report_args.insert(m.report_args.end(), {"--out", m.report_dir});
  std::string energy_profile;
  if (has_report) {
    // The report stage's own flags check the values.
    for (const char* key : {"target_memory_reduction", "max_quality_loss"}) {
      if (!rep[key].IsDefined()) continue;
      set_option_from_yaml(report_app, key, rep[key], source);
      std::string flag = cat("--", key);
      std::replace(flag.begin(), flag.end(), '_', '-');
      m.report_args.insert(m.report_args.end(), {flag, rep[key].Scalar()});
    }
    if (rep["energy_profile"].IsDefined()) {
      energy_profile = yaml_string(rep["energy_profile"], "energy_profile", source);
      bool found = false;
      for (const auto& p : m.profiles) found = found || p.id == energy_profile;
      KVSVD_CHECK(found, yaml_where(rep["energy_profile"], source), ": energy_profile '",
                  energy_profile, "' is not a profile that some run reads");
    }
  }
  if (energy_profile.empty() && m.profiles.size() == 1) energy_profile = m.profiles[0].id;
  for (const auto& p : m.profiles)
    if (p.id == energy_profile) m.report_args.insert(m.report_args.end(), {"--store", p.store_path});
  check_job_args(parse_report_args, m.report_args, 0, true, source, "the report job");
  return m;
}

Manifest plan_sweep(const std::string& sweep_path, const SweepPlanOptions& opt,
                    std::vector<std::string>* notes) {
  return plan_sweep_text(read_text_file(sweep_path), sweep_path, opt, notes);
}

}  // namespace kvsvd
