#!/usr/bin/env bash
# Fault injection on `kvsvd evaluate --out DIR` (bundled model, full + svd caches, 2-3 MPI ranks):
#   1. SIGKILL of one rank after the first per-window records: the job ends non-zero within 60 s,
#      no DIR/summary.json, `--resume` (another rank count) reproduces the uninterrupted run's
#      figures exactly (summary.json and windows.csv, timings, memory and provenance left out).
#   2. SIGTERM to every rank (Slurm preemption): exit 143, finished windows kept, resume identical.
#   3. two jobs with the same --out at once: exactly one succeeds, the other names DIR and the
#      lock holder; the winner's figures equal the reference.
#   4. the output disk full (a 32 KiB tmpfs; root only, else a file size limit): error naming the
#      path and ENOSPC, no summary.json (nor any other final file) in DIR; after the tmpfs grows,
#      --resume finishes with identical figures.
# Every outcome is printed as one "outcome:" line.
#
#   tests/e2e/fault-evaluate-test.sh KVSVD_BINARY REPO_ROOT
set -uo pipefail
kvsvd=$(realpath "${1:?usage: $0 KVSVD_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: $0 KVSVD_BINARY REPO_ROOT}")
model=$root/assets/models/sotu-llama-tiny
data=$root/assets/datasets/sotu-heldout.jsonl
# shellcheck source=fault-helpers.sh
source "$(dirname "$0")/fault-helpers.sh" fault-evaluate
windows_in() { ls "$1/.partial/" 2>/dev/null | grep -c '^w.*\.json$'; }
left_in() { (cd "$1" 2>/dev/null && ls -A | tr '\n' ' '; echo "(.partial: $(windows_in "$1") windows)"); }

"$kvsvd" profile --model "$model" --key-rank 16 --out "$work/store.h5" >/dev/null 2>"$work/store.err" ||
  { cat "$work/store.err"; echo "FAIL: profile for the store"; exit 1; }
ev=("$kvsvd" evaluate --model "$model" --dataset "$data" --dataset-format jsonl --seq-len 32
    --max-windows 6 --method full,svd --store "$work/store.h5" --device cpu
    --batch 1 --gen-tokens 24)  # one window per batch, each slow enough that the signals land mid-run

# same_figures A B: summary.json figures and windows.csv equal, timings/memory/provenance aside.
same_figures() {
  python3 - "$1" "$2" <<'PY'
import csv, json, sys
a, b = sys.argv[1:3]
skip = {"prefill_tokens_per_s", "decode_tokens_per_s", "peak_memory_bytes"}
sa, sb = (json.load(open(f"{d}/summary.json")) for d in (a, b))
bad = [k for k in ("windows", "seq_len", "scored_tokens") if sa[k] != sb[k]]
if len(sa["results"]) != len(sb["results"]):
    bad.append("number of results")
for ra, rb in zip(sa["results"], sb["results"]):
    bad += [f"{ra['label']}.{k}" for k, v in ra.items() if k not in skip and rb.get(k) != v]
def rows(d):
    with open(f"{d}/windows.csv") as f:
        return [{k: v for k, v in r.items() if k not in skip} for r in csv.DictReader(f)]
if rows(a) != rows(b):
    bad.append("windows.csv")
if bad:
    print("  differs:", ", ".join(bad[:10]))
sys.exit(1 if bad else 0)
PY
}

# ---- reference: the race of 3, whose winner ran uninterrupted ----
"${mpirun[@]}" -np 2 "${ev[@]}" --out "$work/race" >/dev/null 2>"$work/race-a.err" &
ja=$!
"${mpirun[@]}" -np 2 "${ev[@]}" --out "$work/race" >/dev/null 2>"$work/race-b.err" &
jb=$!
ra=0; rb=0
wait "$ja" || ra=$?
wait "$jb" || rb=$?
loser=; msg=
if [ "$ra" -eq 0 ] && [ "$rb" -ne 0 ]; then loser=b; elif [ "$rb" -eq 0 ] && [ "$ra" -ne 0 ]; then loser=a
else fail "race: exits $ra and $rb, expected exactly one 0"; fi
if [ -n "$loser" ]; then
  if grep -Eq -- "evaluate run folder $work/race is being written by another job \((pid [0-9]+ on host [^ ]+|holder unknown)" "$work/race-$loser.err"; then
    msg=$(grep -Eo -- "is being written by another job \([^)]*\)" "$work/race-$loser.err" | head -1)
  else
    fail "race: the loser's stderr lacks the lock message"; sed 's/^/    /' "$work/race-$loser.err" | head -5
  fi
fi
[ -e "$work/race/summary.json" ] || { fail "race: no finished run to serve as the reference"; exit 1; }
[ ! -e "$work/race.lock" ] || fail "race: the winner left its lock file"
outcome "two evaluate jobs, same --out: exits $ra/$rb; loser: ${msg:-?}; left: $(left_in "$work/race")"
ref=$work/race
# A control: the comparison can fail (another method set has other figures).
"$kvsvd" evaluate --model "$model" --dataset "$data" --dataset-format jsonl --seq-len 32 --max-windows 2 \
  --method full --device cpu --no-progress --out "$work/control" >/dev/null 2>&1 || fail "control run"
same_figures "$ref" "$work/control" >/dev/null && fail "same_figures cannot tell two runs apart"

# interrupt NAME NP SIGNAL RANKS...: starts a run, waits for its first finished window records,
# signals the ranks, waits for the job; sets rc and dt (seconds from the signal to the end).
interrupt() {
  local name=$1 np=$2 sig=$3; shift 3
  local out=$work/$name pids=() r p i
  "${mpirun[@]}" -np "$np" "${ev[@]}" --out "$out" >/dev/null 2>"$work/$name.err" &
  local job=$!
  for ((i = 0; i < 600; i++)); do
    [ "$(windows_in "$out")" -ge 1 ] && break
    kill -0 "$job" 2>/dev/null || break
    sleep 0.1
  done
  for r in "$@"; do
    p=$(rank_pid "$out" "$r") || { fail "$name: no process for rank $r"; continue; }
    pids+=("$p")
  done
  before=$(windows_in "$out")
  local t0
  t0=$(now)
  kill "-$sig" "${pids[@]}"
  (sleep 90; kill -9 "$job" 2>/dev/null) &
  local guard=$!
  rc=0
  wait "$job" || rc=$?
  dt=$(secs "$t0" "$(now)")
  kill "$guard" 2>/dev/null; wait "$guard" 2>/dev/null
  [ "$before" -lt 6 ] || fail "$name: every window was done before the signal (not mid-run)"
}

check_resume() {  # check_resume NAME NP
  local name=$1 np=$2 rrc=0
  "${mpirun[@]}" -np "$np" "${ev[@]}" --out "$work/$name" --resume >/dev/null 2>"$work/$name.resume.err" || rrc=$?
  identical=no
  if [ "$rrc" -ne 0 ]; then fail "$name: resume exit $rrc"; sed 's/^/    /' "$work/$name.resume.err" | tail -3; return; fi
  resumed=$(grep -Eo "[0-9]+ resumed" "$work/$name.resume.err" | head -1)
  if same_figures "$ref" "$work/$name"; then identical=yes; else fail "$name: resumed figures differ"; fi
}

# ---- 1. SIGKILL rank 1 of 2 after the first finished windows; resume with 3 ranks ----
interrupt kill 2 KILL 1
left=$(left_in "$work/kill")
[ "$rc" -ne 0 ] || fail "kill: exit 0 after SIGKILL of rank 1"
awk -v d="$dt" 'BEGIN { exit !(d < 60) }' || fail "kill: took $dt s to end after the kill"
[ ! -e "$work/kill/summary.json" ] || fail "kill: summary.json exists after the kill"
check_resume kill 3
outcome "evaluate, SIGKILL rank 1 of 2 after $before windows: exit $rc after $dt s; left: $left; resume -np 3 ($resumed) identical: $identical"

# ---- 2. SIGTERM to every rank ----
interrupt term 2 TERM 0 1
left=$(left_in "$work/term")
[ "$rc" -eq 143 ] || { fail "term: exit $rc, expected 143"; sed 's/^/    /' "$work/term.err" | tail -5; }
awk -v d="$dt" 'BEGIN { exit !(d < 60) }' || fail "term: took $dt s to stop"
[ ! -e "$work/term/summary.json" ] || fail "term: summary.json exists after SIGTERM"
grep -q "rerun with --resume" "$work/term.err" || fail "term: no 'rerun with --resume' message"
check_resume term 2
outcome "evaluate, SIGTERM all ranks of 2 after $before windows: exit $rc after $dt s; left: $left; resume ($resumed) identical: $identical"

# ---- 4. the output disk fills up ----
# 32 KiB of tmpfs: the lock file and the 6 window records (one page each) fit, then the final
# files do not: write_files_atomic must leave none of them (windows.csv fits alone, so this also
# checks that a written temp file is not renamed when a later one fails). Then the tmpfs grows
# (remount) and --resume finishes from the 6 records.
full=$work/full
mkdir -p "$full"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=32k tmpfs "$full" 2>/dev/null; then
  mounted=$full
  t0=$(now); rc=0
  "${mpirun[@]}" -np 2 "${ev[@]}" --out "$full/run" >/dev/null 2>"$work/full.err" || rc=$?
  dt=$(secs "$t0" "$(now)")
  left=$(left_in "$full/run")
  [ "$rc" -ne 0 ] || fail "disk full: exit 0"
  grep -q "$full/run/.*No space left on device" "$work/full.err" ||
    { fail "disk full: the error lacks the path or ENOSPC"; sed 's/^/    /' "$work/full.err" | head -5; }
  for f in summary.json windows.csv command.txt; do
    [ ! -e "$full/run/$f" ] || fail "disk full: $f exists in the run folder"
  done
  ls "$full/run" "$full/run/.partial" 2>/dev/null | grep -q '\.tmp\.' && fail "disk full: temp files left"
  err=$(grep -Eo "(error writing|cannot [a-z]+) [^ ]*" "$work/full.err" | head -1)
  identical=no; resumed=
  if mount -o remount,size=1m "$full"; then
    check_resume full/run 2
  else
    fail "disk full: cannot grow the tmpfs"
  fi
  outcome "evaluate, output tmpfs (32 KiB) full: exit $rc after $dt s; error: $err; left: $left; after growing the disk --resume ($resumed) identical: $identical"
  umount "$full" && mounted=
else
  t0=$(now); rc=0
  # Without root (no tmpfs mount): a 2 KiB file-size limit on the ranks lets the window records
  # (~850 bytes) through and fails the final files (EFBIG, not ENOSPC).
  "${mpirun[@]}" -np 2 bash -c 'trap "" XFSZ; ulimit -f 2; exec "$0" "$@"' "${ev[@]}" \
    --out "$full/run" >/dev/null 2>"$work/full.err" || rc=$?
  dt=$(secs "$t0" "$(now)")
  [ "$rc" -ne 0 ] || fail "file size limit: exit 0"
  grep -q "$full/run/" "$work/full.err" || { fail "file size limit: the error lacks the path"; head -5 "$work/full.err"; }
  for f in summary.json windows.csv command.txt; do
    [ ! -e "$full/run/$f" ] || fail "file size limit: $f exists in the run folder"
  done
  outcome "evaluate, file size limit (not root: no tmpfs): exit $rc after $dt s; left: $(left_in "$full/run")"
fi

echo "test-fault-evaluate: $(($(date +%s) - t_start)) s"
if [ "$failures" -ne 0 ]; then echo "test-fault-evaluate: $failures failure(s)"; exit 1; fi
echo "test-fault-evaluate: all scenarios passed"
