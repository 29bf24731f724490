#include "stages/report/report-writer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/util/error.h"
#include "core/util/json-util.h"
#include "stages/report/equal-memory.h"
#include "stages/report/table-format.h"

namespace fs = std::filesystem;

namespace kvsvd {

namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// gnuplot single-quoted strings: '' is a literal quote.
std::string gp_string(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (ok)
      out += c;
    else if (!out.empty() && out.back() != '-')
      out += '-';
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "group" : out;
}

std::string ranks_text(const ReportRow& r) {
  std::string out;
  if (!r.key_rank.empty()) out += "k" + r.key_rank;
  if (!r.value_ranks.empty()) out += (out.empty() ? "v " : " v ") + r.value_ranks;
  if (!r.chunk_size.empty()) out += (out.empty() ? "" : " ") + std::string("chunk ") + r.chunk_size;
  if (!r.chunk_ratio.empty()) out += (out.empty() ? "" : " ") + std::string("ratio ") + r.chunk_ratio;
  return out.empty() ? "-" : out;
}

std::string pct(double x) { return fmt_fixed(100.0 * x, 2) + "%"; }

// "[+0.81%, +1.20%]", or "-" when the run recorded no interval.
std::string ci_text(const ReportRow& r) {
  if (!std::isfinite(r.loss_ci_lo) || !std::isfinite(r.loss_ci_hi)) return "-";
  auto sgn = [](double x) { return x >= 0 ? "+" : ""; };
  return cat("[", sgn(r.loss_ci_lo), pct(r.loss_ci_lo), ", ", sgn(r.loss_ci_hi), pct(r.loss_ci_hi),
             "]");
}

std::string describe(const ReportRow& r) {
  return cat("`", r.id(), "` (", r.method, ranks_text(r) == "-" ? "" : ", " + ranks_text(r),
             r.policy.empty() ? "" : ", policy " + r.policy, "): ", fmt_fixed(r.kv_bytes_per_token, 0),
             " KV bytes/token (", fmt_fixed(r.compression_ratio, 2), "x smaller than full), perplexity ",
             fmt_fixed(r.perplexity, 3), " (", r.rel_ppl_increase >= 0 ? "+" : "", pct(r.rel_ppl_increase),
             ")");
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  KVSVD_CHECK(out.good(), "cannot write ", p.string());
  out << text;
  out.close();
  KVSVD_CHECK(out.good(), "error while writing ", p.string());
}

// Runs gnuplot on `script` inside `dir`; the error quotes gnuplot's own output.
void render(const ReportOptions& opt, const fs::path& dir, const std::string& script) {
  const std::string log = script + ".log";
  const std::string cmd = cat("cd ", shell_quote(dir.string()), " && ", shell_quote(opt.gnuplot),
                              " ", shell_quote(script), " >", shell_quote(log), " 2>&1");
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    std::string text;
    try {
      text = read_text_file((dir / log).string());
    } catch (const Error&) {
    }
    fail(cat("gnuplot failed on ", (dir / script).string(), " (exit ", rc, "): ", text));
  }
}

bool have_program(const std::string& name) {
  return std::system(cat("command -v ", shell_quote(name), " >/dev/null 2>&1").c_str()) == 0;
}

}  // namespace

ReportFiles write_report(const std::vector<ReportRow>& rows, const std::vector<Recommendation>& recs,
                         const std::vector<std::string>& sources, const StoreEnergy* energy,
                         const ReportOptions& opt) {
  const fs::path dir(opt.out_dir);
  std::error_code ec;
  fs::create_directories(dir, ec);
  KVSVD_CHECK(!ec && fs::is_directory(dir), "--out ", dir.string(), ": cannot create (",
              ec.message(), ")");
  ReportFiles files;

  // ---- table.csv: every figure at full precision, one row per configuration.
  {
    std::string csv =
        "group,run,label,method,key_rank,value_ranks,policy,profile_method,chunk_size,chunk_ratio,"
        "kv_bits,quant_group,residual,hadamard,"
        "kv_bytes_per_token,compression_ratio_vs_full,perplexity,delta_perplexity,"
        "rel_ppl_increase,kl_mean,top1_agreement,gen_token_agreement,gen_prefix_match,"
        "prefill_tokens_per_s,decode_tokens_per_s,pareto,recommended,source,"
        "rel_ppl_ci95_lo,rel_ppl_ci95_hi\n";
    for (const auto& r : rows) {
      const std::vector<std::string> f = {
          r.group, r.run, r.label, r.method, r.key_rank, r.value_ranks, r.policy, r.profile_method,
          r.chunk_size, r.chunk_ratio, r.kv_bits, r.quant_group, r.residual,
          r.hadamard ? "1" : "0", fmt_full(r.kv_bytes_per_token), fmt_full(r.compression_ratio),
          fmt_full(r.perplexity), fmt_full(r.delta_perplexity), fmt_full(r.rel_ppl_increase), fmt_full(r.kl_mean),
          fmt_full(r.top1_agreement), fmt_full(r.gen_token_agreement), fmt_full(r.gen_prefix_match),
          fmt_full(r.prefill_tokens_per_s), fmt_full(r.decode_tokens_per_s), r.pareto ? "1" : "0",
          r.recommended ? "1" : "0", r.source, fmt_full(r.loss_ci_lo), fmt_full(r.loss_ci_hi)};
      for (size_t i = 0; i < f.size(); ++i) csv += (i ? "," : "") + csv_field(f[i]);
      csv += "\n";
    }
    files.csv = (dir / "table.csv").string();
    write_file(files.csv, csv);
  }

  // ---- plots: gnuplot scripts and data are always written (re-renderable by hand).
  std::map<std::string, std::string> group_plot;  // group -> svg file name
  std::string energy_plot;
  const bool can_render = opt.plots && have_program(opt.gnuplot);
  if (opt.plots && !can_render)
    files.notes.push_back(cat(opt.gnuplot, " not found: plot scripts written but not rendered ",
                              "(scripts/install-deps.sh installs gnuplot-nox)"));
  if (opt.plots) {
    for (const auto& rec : recs) {
      const std::string base = recs.size() == 1 ? "ppl-vs-kv-bytes" : "ppl-vs-kv-bytes-" + slug(rec.group);
      std::vector<std::string> methods;
      // One series per scheme (method + storage bits), so quantized variants stand apart.
      for (const auto& r : rows)
        if (r.group == rec.group && std::find(methods.begin(), methods.end(), r.scheme()) == methods.end())
          methods.push_back(r.scheme());
      std::string dat = "# kv_bytes_per_token perplexity label; one block per method, then the Pareto front\n";
      for (const auto& m : methods) {
        dat += "# method " + m + "\n";
        for (const auto& r : rows)
          if (r.group == rec.group && r.scheme() == m)
            dat += cat(fmt_full(r.kv_bytes_per_token), " ", fmt_full(r.perplexity), " \"", r.id(), "\"\n");
        dat += "\n\n";
      }
      dat += "# Pareto front\n";
      for (int i : rec.front) dat += cat(fmt_full(rows[i].kv_bytes_per_token), " ", fmt_full(rows[i].perplexity), "\n");
      write_file(dir / (base + ".dat"), dat);
      std::string gp = cat(
          "# Perplexity vs KV-cache bytes per token (", rec.group, "), written by kvsvd report.\n",
          "set terminal svg size 900,560 dynamic noenhanced font 'Sans,12' background '#ffffff'\n",
          "set output '", base, ".svg'\n", "set title ", gp_string("Perplexity vs KV bytes per token: " + rec.group), "\n",
          "set xlabel 'KV cache bytes per token'\nset ylabel 'perplexity'\n",
          "set grid\nset key outside right top\nset offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\n",
          "plot ");
      for (size_t k = 0; k < methods.size(); ++k)
        gp += cat("'", base, ".dat' index ", k, " using 1:2 with points pt ", 5 + 2 * (k % 4),
                  " ps 1.3 title ", gp_string(methods[k]), ", \\\n     ");
      gp += cat("'", base, ".dat' index ", methods.size(),
                " using 1:2 with linespoints dt 2 lw 1.5 pt 6 ps 2 lc rgb '#444444' title 'Pareto front'\n");
      write_file(dir / (base + ".gp"), gp);
      if (can_render) {
        render(opt, dir, base + ".gp");
        files.plots.push_back((dir / (base + ".svg")).string());
      }
      group_plot[rec.group] = base + ".svg";
    }
    if (energy) {
      std::string dat = "# layer key_energy";
      for (const auto& v : energy->value_levels) dat += " value_" + slug(v);
      dat += "\n";
      for (const auto& l : energy->layers) {
        dat += cat(l.layer, " ", fmt_full(l.key));
        for (double v : l.value) dat += " " + fmt_full(v);
        dat += "\n";
      }
      write_file(dir / "energy-per-layer.dat", dat);
      std::string gp = cat(
          "# Retained energy per layer of ", energy->path, ", written by kvsvd report.\n",
          "set terminal svg size 900,560 dynamic noenhanced font 'Sans,12' background '#ffffff'\n",
          "set output 'energy-per-layer.svg'\n",
          "set title ", gp_string("Retained energy per layer (mean over KV heads): " +
                                  fs::path(energy->path).filename().string()), "\n",
          "set xlabel 'layer'\nset ylabel 'retained energy fraction'\nset yrange [0:1.05]\n",
          "set grid\nset key outside right top\n",
          "plot 'energy-per-layer.dat' using 1:2 with linespoints pt 7 title ",
          gp_string(cat("keys (rank ", energy->key_rank, ")")));
      for (size_t v = 0; v < energy->value_levels.size(); ++v)
        gp += cat(", \\\n     'energy-per-layer.dat' using 1:", 3 + v, " with linespoints pt ",
                  5 + 2 * (v % 4), " title ", gp_string("values " + energy->value_levels[v]));
      gp += "\n";
      write_file(dir / "energy-per-layer.gp", gp);
      if (can_render) {
        render(opt, dir, "energy-per-layer.gp");
        files.plots.push_back((dir / "energy-per-layer.svg").string());
      }
      energy_plot = "energy-per-layer.svg";
    }
  }

  // ---- report.md
  std::string md = "# kvsvd report\n\n";
  md += cat(rows.size(), " configurations from ", sources.size(), " evaluate run",
            sources.size() == 1 ? "" : "s", " (full figures: [table.csv](table.csv)).\n\n");
  md += cat("## Recommendation\n\nTarget: KV memory reduced at least **", fmt_fixed(opt.target.min_reduction, 2),
            "x** versus the full cache (`compression_ratio_vs_full`) with a perplexity increase of at most **",
            pct(opt.target.max_loss), "** (relative to the full cache). Best = fewest KV bytes per ",
            "token, ties broken by perplexity.\n\n");
  for (const auto& rec : recs) {
    if (recs.size() > 1) md += "### " + rec.group + "\n\n";
    if (rec.best >= 0) {
      md += "**Recommended:** " + describe(rows[rec.best]) + ".\n\n";
      continue;
    }
    md += "**None meets both** the memory target and the quality budget.";
    if (rec.best_quality_at_target < 0 && rec.best_memory_within_budget < 0) {
      md += " No configuration meets either; the Pareto front is:\n\n";
      for (int i : rec.front) md += "- " + describe(rows[i]) + "\n";
    } else {
      md += " Closest candidates:\n\n";
      if (rec.best_quality_at_target >= 0)
        md += "- meets the memory target, least quality loss: " + describe(rows[rec.best_quality_at_target]) + "\n";
      else
        md += "- no configuration meets the memory target\n";
      if (rec.best_memory_within_budget >= 0)
        md += "- within the quality budget, most memory saved: " + describe(rows[rec.best_memory_within_budget]) + "\n";
      else
        md += "- no configuration stays within the quality budget\n";
    }
    md += "\n";
  }
  md += "## Results\n\n";
  md += "`*` on the Pareto front (fewest KV bytes per token vs lowest perplexity, per group); "
        "`R` recommended. Loss = relative perplexity increase over the full cache; its 95% "
        "interval comes from a paired bootstrap over the windows (same windows, full against "
        "the configuration).\n\n";
  for (const auto& rec : recs) {
    if (recs.size() > 1) md += "### " + rec.group + "\n\n";
    md += "| | run | label | method | ranks | policy | KV B/token | reduction | perplexity | "
          "delta ppl | loss | loss 95% CI | KL | top-1 | gen agree | prefill tok/s | decode tok/s |\n";
    md += "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const auto& r : rows) {
      if (r.group != rec.group) continue;
      const std::string mark = std::string(r.pareto ? "*" : "") + (r.recommended ? "R" : "");
      md += cat("| ", mark, " | ", md_cell(r.run), " | ", md_cell(r.label), " | ", md_cell(r.method),
                " | ", md_cell(ranks_text(r)), " | ", md_cell(r.policy.empty() ? "-" : r.policy), " | ",
                fmt_fixed(r.kv_bytes_per_token, 0), " | ", fmt_fixed(r.compression_ratio, 2), "x | ",
                fmt_fixed(r.perplexity, 3), " | ", fmt_fixed(r.delta_perplexity, 3), " | ", pct(r.rel_ppl_increase),
                " | ", ci_text(r), " | ", fmt_fixed(r.kl_mean, 4), " | ", fmt_fixed(r.top1_agreement, 3), " | ",
                fmt_fixed(r.gen_token_agreement, 3), " | ", fmt_fixed(r.prefill_tokens_per_s, 0), " | ",
                fmt_fixed(r.decode_tokens_per_s, 1), " |\n");
    }
    md += "\n";
  }
  {
    // The equal-memory view: pairs of similar KV bytes across schemes, best at 2x/4x/8x.
    const double tolerance = 0.05;
    const std::vector<MemoryPair> pairs = equal_memory_pairs(rows, tolerance);
    write_file(dir / "equal-memory.csv", equal_memory_csv(rows, pairs));
    md += equal_memory_markdown(rows, pairs, best_at_reductions(rows, {2, 4, 8}), tolerance);
  }
  if (opt.plots) {
    md += "## Plots\n\n";
    for (const auto& rec : recs)
      md += cat("![Perplexity vs KV bytes per token (", rec.group, ")](", group_plot[rec.group], ")\n\n");
    if (!energy_plot.empty())
      md += cat("![Retained energy per layer](", energy_plot, ") (store `", energy->path, "`)\n\n");
    for (const auto& n : files.notes) md += "Note: " + n + "\n\n";
  }
  md += "## Inputs\n\n";
  for (const auto& s : sources) md += "- `" + s + "`\n";
  files.markdown = (dir / "report.md").string();
  write_file(files.markdown, md);
  return files;
}

}  // namespace kvsvd
