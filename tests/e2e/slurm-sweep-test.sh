#!/usr/bin/env bash
# End-to-end on a real single-node Slurm (scripts/slurm-local.sh): a small sweep on the bundled
# model through scripts/submit-sweep (profile job -> 4-task evaluate array -> report job), checked
# job by job (JobState=COMPLETED ExitCode=0:0, polled every second); a failing job fails and its
# dependent never runs; an evaluate job stopped by SIGTERM requeues itself, resumes and ends with
# the same figures as the uninterrupted run. Also: the job scripts refuse to run outside Slurm.
#
#   tests/e2e/slurm-sweep-test.sh KVSVD_BINARY REPO_ROOT
#
# Needs root or password-less sudo (slurmd); otherwise it exits 77 (skipped).
# KVSVD_E2E_STANDIN=1 replaces `kvsvd profile/evaluate` by a shell stand-in (to test the Slurm
# machinery while those stages are missing); without it, missing stages fail the test.
# KVSVD_E2E_KEEP=1 keeps the work folder.
set -euo pipefail
kvsvd=$(realpath "${1:?usage: $0 KVSVD_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: $0 KVSVD_BINARY REPO_ROOT}")
t0=$SECONDS
say() { printf '[%4ss] %s\n' $((SECONDS - t0)) "$*"; }
fail() { say "FAIL: $*"; exit 1; }

if [ "$(id -u)" -ne 0 ] && ! sudo -n true 2>/dev/null; then
  echo "SKIP: test-slurm-sweep needs root or password-less sudo (slurmd runs as root)"
  exit 77
fi

work=$(mktemp -d /tmp/kvsvd-e2e-slurm.XXXXXX)
export KVSVD_SLURM_STATE=$work/slurm
export KVSVD_SLURM_PORT=${KVSVD_E2E_SLURM_PORT:-6917}   # not the default: a dev cluster may run
cleanup() {
  local rc=$?
  "$root/scripts/slurm-local.sh" down || true
  if [ $rc -ne 0 ]; then
    say "logs of the failed run:"
    for f in "$work"/logs/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }; done
    tail -n 20 "$KVSVD_SLURM_STATE"/log/slurmctld.log 2>/dev/null || true
  fi
  if [ "${KVSVD_E2E_KEEP:-0}" = 1 ] || [ $rc -ne 0 ]; then say "work folder kept: $work"; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT

# ---------------------------------------------------------------- the binary the jobs run
bin=$kvsvd
stages_ok=1
"$kvsvd" profile --help >/dev/null 2>&1 || stages_ok=0
help=$("$kvsvd" evaluate --help 2>&1 || true)
grep -q -- '--store' <<<"$help" || stages_ok=0
if [ $stages_ok = 0 ]; then
  [ "${KVSVD_E2E_STANDIN:-0}" = 1 ] ||
    fail "kvsvd profile/evaluate are not complete in $kvsvd (set KVSVD_E2E_STANDIN=1 to test the Slurm machinery with a stand-in)"
  say "STAND-IN stages: profile/evaluate are a shell stand-in; the real pipeline is NOT tested"
  bin=$work/kvsvd-standin
  cat >"$bin" <<STANDIN
#!/usr/bin/env bash
# Stand-in for kvsvd profile/evaluate (slow, interruptible, resumable); the rest is the real binary.
set -euo pipefail
stage=\$1; shift
if [ "\$stage" = report ]; then  # the stand-in store is no HDF5 file: no energy plot
  a=(); while [ \$# -gt 0 ]; do if [ "\$1" = --store ]; then shift; else a+=("\$1"); fi; shift; done
  exec "$kvsvd" report "\${a[@]}"
fi
case "\$stage" in profile|evaluate) ;; *) exec "$kvsvd" "\$stage" "\$@" ;; esac
out= method=full k=64 resume=0 model=
while [ \$# -gt 0 ]; do case "\$1" in
  --model) model=\$2; shift ;; --out) out=\$2; shift ;; --method) method=\$2; shift ;; --key-rank) k=\$2; shift ;;
  --resume) resume=1 ;; esac; shift; done
[ -d "\$model" ] || { echo "stand-in \$stage: no model folder '\$model'" >&2; exit 2; }
trap 'echo "stand-in \$stage: SIGTERM, stopping"; exit 143' TERM
if [ "\$stage" = profile ]; then
  mkdir -p "\$(dirname "\$out")"; [ \$resume = 1 ] || : >"\$out.partial"; touch "\$out.partial"
  while [ "\$(wc -l <"\$out.partial")" -lt 3 ]; do sleep 1; echo layer >>"\$out.partial"; done
  mv "\$out.partial" "\$out"; exit 0
fi
mkdir -p "\$out"; [ \$resume = 1 ] || : >"\$out/windows.csv"; touch "\$out/windows.csv"
while [ "\$(wc -l <"\$out/windows.csv")" -lt 8 ]; do sleep 0.5; echo "w \$((\$(wc -l <"\$out/windows.csv")))" >>"\$out/windows.csv"; done
case "\$method" in full) bytes=1024; ppl=10 ;; svd) bytes=\$((16 * k)); ppl=\$(awk -v k=\$k 'BEGIN{print 10 + 16 / k}') ;; *) bytes=512; ppl=10.2 ;; esac
cat >"\$out/summary.json" <<JSON
{"schema": "kvsvd-eval", "schema_version": 1, "provenance": {"dataset": "standin"}, "windows": 8, "seq_len": 64,
 "results": [{"label": "\$method", "method": "\$method", "params": {"key_rank": \$k}, "perplexity": \$ppl,
   "delta_perplexity": \$(awk -v p=\$ppl 'BEGIN{print p - 10}'), "kv_bytes_per_token": \$bytes,
   "compression_ratio_vs_full": \$(awk -v b=\$bytes 'BEGIN{print 1024 / b}'), "kl_mean": 0.01,
   "top1_agreement": 0.9, "prefill_tokens_per_s": \$RANDOM}]}
JSON
STANDIN
  chmod +x "$bin"
fi

# ---------------------------------------------------------------- model, data, sweep
model=
for d in "$root"/assets/models/*/; do [ -f "$d/config.json" ] && { model=${d%/}; break; }; done
[ -n "$model" ] || fail "no model under $root/assets/models"
data=$root/assets/datasets/sotu-heldout.jsonl
[ -f "$data" ] || fail "no dataset $data"
tok=
[ -f "$model/tokenizer.json" ] && tok="tokenizer: $model/tokenizer.json"
windows=${KVSVD_E2E_WINDOWS:-12}
cat >"$work/sweep.yaml" <<YAML
name: e2e
model: $model
$tok
datasets:
  - {name: sotu, path: $data, format: jsonl}
base: {seq_len: 64, max_windows: $windows, gen_tokens: 4}
profiles:
  - {name: wsvd, method: weight_svd, key_rank: 32, value_ranks: {low: 16, med: 32, high: 64}}
runs:
  - {name: full, method: full}
  - {name: svd-k16, method: svd, key_rank: 16, policy: position}
  - {name: svd-k32, method: svd, key_rank: 32, policy: "uniform:high"}
  - {name: chunked, method: chunked, chunk_size: 16, compression_ratio: 2}
report: {target_memory_reduction: 1.5, max_quality_loss: 0.5}
out_root: $work/results/runs
store_root: $work/results/stores
YAML

# ---------------------------------------------------------------- Slurm
"$root/scripts/slurm-local.sh" up >/dev/null
export SLURM_CONF=$KVSVD_SLURM_STATE/slurm.conf
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
say "slurm up ($(sinfo -h -o '%P %D %T'))"
cd "$work"

# job_summary JOBID: one line per job record (array tasks included).
job_summary() {
  scontrol -o show job "$1" 2>/dev/null | awk '{o=""; for (i = 1; i <= NF; i++)
    if ($i ~ /^(JobId|ArrayTaskId|JobName|JobState|Reason|ExitCode|Restarts)=/) o = o $i " "; print o}'
}
# wait_gone JOBID [TIMEOUT]: polls every second until the job (every array task) left the queue.
wait_gone() {
  local deadline=$((SECONDS + ${2:-240}))
  while [ -n "$(squeue -h -j "$1" -o %i 2>/dev/null)" ]; do
    [ $SECONDS -lt $deadline ] || { job_summary "$1"; fail "job $1 still queued after ${2:-240} s"; }
    sleep 1
  done
}
# job_ok JOBID: every record of the job is COMPLETED with exit code 0:0.
job_ok() {
  local info; info=$(scontrol -o show job "$1" 2>/dev/null) || return 1
  [ -n "$info" ] && ! grep -v -q 'JobState=COMPLETED .*ExitCode=0:0' <<<"$info"
}

# ---------------------------------------------------------------- 0. refuse outside an allocation
for s in profile evaluate report; do
  if out=$(env -u SLURM_JOB_ID KVSVD_BIN="$bin" bash "$root/jobs/$s.sbatch" --help 2>&1); then
    fail "jobs/$s.sbatch ran outside an allocation"
  fi
  grep -q "not inside a Slurm allocation" <<<"$out" || fail "jobs/$s.sbatch: unexpected refusal: $out"
done
say "job scripts refuse to run outside an allocation"

# ---------------------------------------------------------------- 1. the sweep
KVSVD_BIN=$bin "$root/scripts/submit-sweep" "$work/sweep.yaml" --dry-run --max-concurrent 2 >"$work/dry-run.txt"
grep -q -- '--array=0-3%2' "$work/dry-run.txt" || fail "dry run: no --array=0-3%2: $(cat "$work/dry-run.txt")"
grep -q -- '--dependency=afterok:\$PROFILE_0' "$work/dry-run.txt" || fail "dry run: array does not wait for the profile job"
[ ! -d "$work/logs" ] || fail "--dry-run submitted something"
KVSVD_BIN=$bin "$root/scripts/submit-sweep" "$work/sweep.yaml" --max-concurrent 2 >"$work/submit.txt"
cat "$work/submit.txt"
read -r -a ids <<<"$(sed -n 's/^jobs: //p' "$work/submit.txt")"
[ ${#ids[@]} -eq 3 ] || fail "expected 3 job ids (profile, array, report), got '${ids[*]}'"
pjob=${ids[0]} ajob=${ids[1]} rjob=${ids[2]}
manifest=$work/results/sweeps/sweep.json
[ -f "$manifest" ] || manifest=$(ls "$work"/results/sweeps/*.json | head -n1)
for j in "$pjob" "$ajob" "$rjob"; do
  wait_gone "$j" 300
  job_summary "$j"
  job_ok "$j" || fail "job $j did not complete with exit code 0:0"
done
[ "$(scontrol -o show job "$ajob" | grep -c 'JobState=COMPLETED')" -eq 4 ] || fail "array $ajob: not 4 completed tasks"
say "sweep done: profile $pjob, array $ajob (4 tasks), report $rjob"
report_dir=$("$kvsvd" sweep args "$manifest" --report --field out_dir)
[ -s "$report_dir/report.md" ] && [ -s "$report_dir/table.csv" ] || fail "no report in $report_dir"
grep -q -E '\*\*(Recommended:|None meets both)' "$report_dir/report.md" || fail "report.md has no recommendation"
for name in full svd-k16 svd-k32 chunked; do
  grep -q ",$name," "$report_dir/table.csv" || fail "table.csv has no row of run $name"
done
pareto_rows=$(python3 - "$report_dir/table.csv" <<'PY'
import csv, sys
print(sum(1 for r in csv.DictReader(open(sys.argv[1])) if r["pareto"] == "1"))
PY
)
[ "${pareto_rows:-0}" -ge 1 ] || fail "no Pareto-front row in table.csv"
say "report: $report_dir/report.md ($(($(wc -l <"$report_dir/table.csv") - 1)) rows)"

# ---------------------------------------------------------------- 2. a failing job and its dependent
fjob=$(KVSVD_BIN=$bin KVSVD_LAUNCHER=none sbatch --parsable "$root/jobs/evaluate.sbatch" \
         --model "$work/no-such-model" --dataset "$data" --method full --out "$work/results/fail")
djob=$(KVSVD_BIN=$bin sbatch --parsable --dependency="afterok:$fjob" --kill-on-invalid-dep=yes \
         "$root/jobs/report.sbatch" "$work/results/fail" --out "$work/results/fail-report")
wait_gone "$fjob" 120; wait_gone "$djob" 120
job_summary "$fjob"; job_summary "$djob"
if job_ok "$fjob"; then fail "the failing job $fjob passed"; fi
if job_ok "$djob"; then fail "the dependent job $djob passed"; fi
scontrol -o show job "$fjob" | grep -q 'JobState=FAILED' || fail "job $fjob is not FAILED"
dinfo=$(scontrol -o show job "$djob")
grep -q 'JobState=CANCELLED' <<<"$dinfo" && grep -q 'Reason=DependencyNeverSatisfied' <<<"$dinfo" ||
  fail "dependent job $djob was not cancelled for DependencyNeverSatisfied"
[ ! -e "$work/results/fail-report" ] || fail "the dependent job ran"
[ ! -s "$work/logs/kvsvd-report-$djob.out" ] || fail "the dependent job wrote a log"
say "failing job $fjob FAILED, dependent $djob cancelled without running"

# ---------------------------------------------------------------- 3. SIGTERM, requeue, resume
# Run svd-k16 again into another folder, interrupt it, and compare with the array's result.
out=$("$kvsvd" sweep args "$manifest" --run 1)
mapfile -t args <<<"$out"
ref_dir=$("$kvsvd" sweep args "$manifest" --run 1 --field out_dir)
again=$work/results/requeued
for i in "${!args[@]}"; do [ "${args[$i]}" = --out ] && args[$((i + 1))]=$again; done
launcher=${KVSVD_E2E_REQUEUE_LAUNCHER:-mpirun}
qjob=$(KVSVD_BIN=$bin KVSVD_LAUNCHER=$launcher sbatch --parsable --ntasks=2 "$root/jobs/evaluate.sbatch" "${args[@]}")
# Wait until the stage runs and has written something, then stop it the way a time limit does.
deadline=$((SECONDS + 120))
until [ -n "$(find "$again" -type f 2>/dev/null | head -n1)" ]; do
  [ $SECONDS -lt $deadline ] || fail "job $qjob never started writing $again"
  squeue -h -j "$qjob" -o %T | grep -q . || fail "job $qjob ended before it could be interrupted"
  sleep 0.2
done
# The whole run takes about 2 s since evaluation is batched: signal soon after it starts.
sleep "${KVSVD_E2E_TERM_AFTER:-0.3}"
scancel --signal=TERM --batch "$qjob"
say "sent SIGTERM to job $qjob ($launcher, 2 tasks)"
# Slurm holds a requeued job back for a while (BeginTime); release it once it is pending again.
deadline=$((SECONDS + 120))
until scontrol -o show job "$qjob" | grep -q 'Restarts=[1-9]'; do
  [ $SECONDS -lt $deadline ] || { job_summary "$qjob"; fail "job $qjob was not requeued after SIGTERM"; }
  sleep 0.5
done
until ! scontrol -o show job "$qjob" | grep -q 'JobState=\(COMPLETING\|REQUEUE\)'; do sleep 0.5; done
# Not at once: slurmd refuses a launch in the same second as the kill of the job's previous run
# ("Job N already killed, do not launch batch job"; slurmctld: "Job credential revoked") and the job
# then FAILS with exit 1. Slurm's own BeginTime delay avoids that; releasing early must wait too.
sleep 2
scontrol update JobId="$qjob" StartTime=now 2>/dev/null || true
wait_gone "$qjob" 300
job_summary "$qjob"
job_ok "$qjob" || fail "requeued job $qjob did not complete with 0:0"
scontrol -o show job "$qjob" | grep -q 'Restarts=[1-9]' || fail "job $qjob was not requeued (Restarts=0)"
log=$work/logs/kvsvd-evaluate-$qjob.out
grep -q "SIGTERM: stopping the stage" "$log" || fail "$log: no SIGTERM handling"
grep -q -- "--resume" "$log" || fail "$log: the restart did not pass --resume"
# Same figures as the uninterrupted run; only timings and peak memory may differ.
python3 - "$ref_dir/summary.json" "$again/summary.json" <<'PY' || fail "requeued run differs from the uninterrupted one"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
skip = {"prefill_tokens_per_s", "decode_tokens_per_s", "peak_memory_bytes"}
def strip(doc):
    return {"windows": doc.get("windows"), "seq_len": doc.get("seq_len"),
            "scored_tokens": doc.get("scored_tokens"),
            "results": [{k: v for k, v in r.items() if k not in skip} for r in doc["results"]]}
if strip(a) != strip(b):
    print("uninterrupted:", json.dumps(strip(a), sort_keys=True))
    print("requeued:     ", json.dumps(strip(b), sort_keys=True))
    sys.exit(1)
print("requeued run matches the uninterrupted run:", len(a["results"]), "results")
PY
say "SIGTERM -> requeue -> resume gave the same results"
say "PASS (${SECONDS}s)"
