#!/usr/bin/env bash
# A pipeline stage that dies aborts the whole job: `kvsvd evaluate --pipeline-stages 3` on the
# bundled model (full + svd, generation on) under mpirun -np 3; SIGKILL of the middle stage after
# the first finished window records ends the job non-zero within 60 s with no summary.json, and
# `--resume` with another layout (2 ranks, 2 stages) finishes with the figures of an
# uninterrupted one-rank run (summary.json and windows.csv; timings and memory left out).
#
#   tests/e2e/fault-pipeline-test.sh KVSVD_BINARY REPO_ROOT
set -uo pipefail
kvsvd=$(realpath "${1:?usage: $0 KVSVD_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: $0 KVSVD_BINARY REPO_ROOT}")
model=$root/assets/models/sotu-llama-tiny
data=$root/assets/datasets/sotu-heldout.jsonl
# shellcheck source=fault-helpers.sh
source "$(dirname "$0")/fault-helpers.sh" fault-pipeline
windows_in() { ls "$1/.partial/" 2>/dev/null | grep -c '^w.*\.json$'; }

"$kvsvd" profile --model "$model" --key-rank 16 --out "$work/store.h5" >/dev/null 2>"$work/store.err" ||
  { cat "$work/store.err"; echo "FAIL: profile for the store"; exit 1; }
ev=("$kvsvd" evaluate --model "$model" --dataset "$data" --dataset-format jsonl --seq-len 32
    --max-windows 8 --method full,svd --store "$work/store.h5" --gen-tokens 4 --device cpu
    --no-progress)

same_figures() {  # same_figures A B
  python3 - "$1" "$2" <<'PY'
import csv, json, sys
a, b = sys.argv[1:3]
skip = lambda k: "_per_s" in k or "seconds" in k or "memory" in k
sa, sb = (json.load(open(f"{d}/summary.json")) for d in (a, b))
bad = [k for k in ("windows", "seq_len", "scored_tokens") if sa[k] != sb[k]]
if len(sa["results"]) != len(sb["results"]):
    bad.append("number of results")
for ra, rb in zip(sa["results"], sb["results"]):
    bad += [f"{ra['label']}.{k}" for k, v in ra.items() if not skip(k) and rb.get(k) != v]
def rows(d):
    with open(f"{d}/windows.csv") as f:
        return [{k: v for k, v in r.items() if not skip(k)} for r in csv.DictReader(f)]
if rows(a) != rows(b):
    bad.append("windows.csv")
if bad:
    print("  differs:", ", ".join(bad[:10]))
sys.exit(1 if bad else 0)
PY
}

"${ev[@]}" --out "$work/ref" >/dev/null 2>"$work/ref.err" || { cat "$work/ref.err"; fail "reference run"; exit 1; }

out=$work/kill
"${mpirun[@]}" -np 3 "${ev[@]}" --pipeline-stages 3 --out "$out" >/dev/null 2>"$work/kill.err" &
job=$!
for ((i = 0; i < 600; i++)); do
  [ "$(windows_in "$out")" -ge 1 ] && break
  kill -0 "$job" 2>/dev/null || break
  sleep 0.1
done
before=$(windows_in "$out")
pid=$(rank_pid "$out" 1) || fail "no process for rank 1"
t0=$(now)
[ -n "${pid:-}" ] && kill -KILL "$pid"
(sleep 90; kill -9 "$job" 2>/dev/null) >/dev/null 2>&1 &  # no hold on ctest's pipe
guard=$!
rc=0
wait "$job" || rc=$?
dt=$(secs "$t0" "$(now)")
kill "$guard" 2>/dev/null; wait "$guard" 2>/dev/null
[ "$before" -lt 8 ] || fail "every window was done before the kill (not mid-run)"
[ "$rc" -ne 0 ] || fail "exit 0 after SIGKILL of stage 1"
awk -v d="$dt" 'BEGIN { exit !(d < 60) }' || fail "took $dt s to end after the kill"
[ ! -e "$out/summary.json" ] || fail "summary.json exists after the kill"

rrc=0
"${mpirun[@]}" -np 2 "${ev[@]}" --pipeline-stages 2 --out "$out" --resume >/dev/null \
  2>"$work/resume.err" || rrc=$?
identical=no
if [ "$rrc" -ne 0 ]; then
  fail "resume exit $rrc"; sed 's/^/    /' "$work/resume.err" | tail -3
elif same_figures "$work/ref" "$out"; then
  identical=yes
else
  fail "resumed figures differ from the one-rank run"
fi
outcome "evaluate --pipeline-stages 3, SIGKILL of stage 1 after $before windows: exit $rc after $dt s; resume at 2 stages identical to one rank: $identical"
echo "fault-pipeline: $failures failure(s) in $(( $(date +%s) - t_start )) s"
[ "$failures" -eq 0 ]
