#!/usr/bin/env python3
"""Plots of a quality sweep from `kvsvd report`'s table.csv (standard library + gnuplot).

One SVG per dataset group: x = KV memory reduction against an fp16 cache (log scale), y = relative
perplexity change over the full cache in percent, with the paired-bootstrap 95% intervals as error
bars; every point labelled by its configuration; the Pareto front (more reduction, less loss)
drawn per method family; points above --ymax are drawn at the edge as triangles with their value.

  scripts/plot-quality.py REPORT_DIR/table.csv OUT_DIR [--ymax 20] [--fp16-bytes 3072]
"""
import argparse
import csv
import math
import os
import re
import subprocess
import sys


def family(row):
    label, run = row["label"], row["run"]
    if row["method"] == "quant":
        return "KIVI-style quant"
    if row["method"] == "chunked":
        return "chunked"
    if row["method"] == "svd":
        if "heads" in label:
            return "svd, loss-driven budget"
        if row.get("profile_method") == "weight_svd":
            return "svd, weight_svd (the seeds)"
        if row.get("profile_method") == "output_aware":
            return "svd, output-aware values"
        return "svd, activation_pca uniform"
    return None


def short(row):
    run = re.sub(r"^(sotu|moby)-", "", row["run"])
    lab = row["label"].replace("uniform:high", "u").replace("/g32", "")
    return f"{run}:{lab}" if run.startswith("budget") else lab


def pareto(points):
    """Points not dominated: no other has >= reduction and <= loss (one strictly)."""
    front = []
    for p in points:
        dom = any((q[0] >= p[0] and q[1] <= p[1]) and (q[0] > p[0] or q[1] < p[1]) for q in points)
        if not dom:
            front.append(p)
    return sorted(front)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table")
    ap.add_argument("out")
    ap.add_argument("--ymax", type=float, default=25.0)
    ap.add_argument("--fp16-bytes", type=float, default=3072.0,
                    help="KV bytes per token of an fp16 full cache (bundled model: 6*2*2*64*2)")
    a = ap.parse_args()
    rows = list(csv.DictReader(open(a.table, encoding="utf-8")))
    if not rows:
        sys.exit(f"{a.table}: no rows")
    os.makedirs(a.out, exist_ok=True)
    groups = {}
    for r in rows:
        f = family(r)
        if f:
            groups.setdefault(r["group"], []).append((f, r))
    colors = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#666666"]
    for gi, (group, items) in enumerate(sorted(groups.items())):
        base = "plot-" + re.sub(r"[^a-z0-9]+", "-", group.lower()).strip("-")
        fams = sorted({f for f, _ in items})
        plots, labels = [], []
        for k, fam in enumerate(fams):
            pts = []
            dat = os.path.join(a.out, f"{base}-{k}.dat")
            with open(dat, "w") as f:
                for ff, r in items:
                    if ff != fam:
                        continue
                    x = a.fp16_bytes / float(r["kv_bytes_per_token"])
                    y = 100 * float(r["rel_ppl_increase"])
                    lo = 100 * float(r["rel_ppl_ci95_lo"]) if r.get("rel_ppl_ci95_lo") else y
                    hi = 100 * float(r["rel_ppl_ci95_hi"]) if r.get("rel_ppl_ci95_hi") else y
                    clipped = y > a.ymax
                    yc = min(y, a.ymax)
                    f.write(f"{x:.6g} {yc:.6g} {min(lo, a.ymax):.6g} {min(hi, a.ymax):.6g} {int(clipped)}\n")
                    pts.append((x, y))
                    text = short(r) + (f" ({y:+.0f}%, clipped)" if clipped else "")
                    labels.append(f"set label {len(labels)+1} \"{text}\" at {x:.6g},{yc:.6g} offset 0.6,0.5 "
                                  f"font 'Sans,8' textcolor rgb '{colors[k % len(colors)]}'")
            front = [p for p in pareto(pts)]
            fdat = os.path.join(a.out, f"{base}-{k}-front.dat")
            with open(fdat, "w") as f:
                for x, y in front:
                    f.write(f"{x:.6g} {min(y, a.ymax):.6g}\n")
            c = colors[k % len(colors)]
            plots.append(f"'{os.path.basename(dat)}' using 1:($5==0?$2:1/0):3:4 with yerrorbars pt 7 ps 0.8 lc rgb '{c}' title '{fam}'")
            plots.append(f"'{os.path.basename(dat)}' using 1:($5==1?$2:1/0) with points pt 9 ps 1.6 lc rgb '{c}' notitle")
            plots.append(f"'{os.path.basename(fdat)}' using 1:2 with lines lw 1.5 dt 2 lc rgb '{c}' notitle")
        gp = os.path.join(a.out, base + ".gp")
        with open(gp, "w") as f:
            f.write("set terminal svg size 1100,700 dynamic noenhanced font 'Sans,11' background '#ffffff'\n")
            f.write(f"set output '{base}.svg'\n")
            f.write(f"set title \"{group}: quality vs KV memory (dashed: Pareto front per family; "
                    f"triangles: clipped at {a.ymax:g}%)\"\n")
            f.write("set logscale x 2\nset xlabel 'KV memory reduction vs an fp16 cache (x, log scale)'\n")
            f.write("set ylabel 'relative perplexity change vs full (%), 95% bootstrap interval'\n")
            f.write(f"set yrange [-1:{a.ymax * 1.05:g}]\nset xrange [1:40]\nset grid\nset key bottom right\n")
            f.write("set arrow from 4, graph 0 to 4, graph 1 nohead dt 3 lc rgb '#999999'\n")
            f.write("set arrow from 8, graph 0 to 8, graph 1 nohead dt 3 lc rgb '#999999'\n")
            f.write("set arrow from 16, graph 0 to 16, graph 1 nohead dt 3 lc rgb '#999999'\n")
            f.write("\n".join(labels) + "\n")
            f.write("plot " + ", \\\n     ".join(plots) + "\n")
        subprocess.run(["gnuplot", os.path.basename(gp)], cwd=a.out, check=True)
        print(os.path.join(a.out, base + ".svg"))


if __name__ == "__main__":
    main()
