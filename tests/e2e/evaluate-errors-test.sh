#!/usr/bin/env bash
# `kvsvd evaluate` refuses bad input with a message naming the flag or file (a store of another
# model, an unknown method or policy, a rank the store lacks, --chunk-size 0, a dataset shorter
# than one window), and a run stopped by SIGTERM then resumed gives the figures of an
# uninterrupted run. Usage: evaluate-errors-test.sh KVSVD_BINARY REPO_ROOT
set -uo pipefail
kvsvd=${1:?usage: $0 KVSVD_BINARY REPO_ROOT}
root=${2:?usage: $0 KVSVD_BINARY REPO_ROOT}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
tmp=$(mktemp -d /tmp/kvsvd-eval-e2e-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
model=$root/assets/models/sotu-llama-tiny
data=$root/assets/datasets/sotu-heldout.jsonl
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }

# expect_error NAME NEEDLE... -- ARGS: the command must exit non-zero and its stderr must hold
# every needle.
expect_error() {
  local name=$1; shift
  local needles=()
  while [ "$1" != "--" ]; do needles+=("$1"); shift; done
  shift
  "$kvsvd" evaluate "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"
  local rc=$?
  if [ "$rc" -eq 0 ]; then
    fail "$name: exit status 0"
    return
  fi
  for n in "${needles[@]}"; do
    if ! grep -qF -- "$n" "$tmp/err.txt"; then
      fail "$name: stderr lacks '$n'"; sed 's/^/    /' "$tmp/err.txt" >&2
      return
    fi
  done
  echo "ok: $name (exit $rc): $(grep -m1 -i error "$tmp/err.txt")"
}

# ---- stores: one of this model, one of a copy whose config.json differs (another fingerprint)
"$kvsvd" profile --model "$model" --key-rank 32 --value-ranks low=8,med=16,high=32 \
  --out "$tmp/store.h5" >"$tmp/profile.log" 2>&1 || { cat "$tmp/profile.log" >&2; fail "profile of the bundled model"; exit 1; }
cp -r "$model" "$tmp/other-model"
sed -i 's/"rms_norm_eps": 1e-05/"rms_norm_eps": 1e-05, "kvsvd_test_other": true/' "$tmp/other-model/config.json"
"$kvsvd" profile --model "$tmp/other-model" --key-rank 32 --value-ranks low=8,med=16,high=32 \
  --out "$tmp/other.h5" >"$tmp/profile2.log" 2>&1 || { cat "$tmp/profile2.log" >&2; fail "profile of the copy"; exit 1; }

common=(--model "$model" --dataset "$data" --dataset-format jsonl --seq-len 32 --max-windows 2
        --device cpu --no-progress)

expect_error "store of another model" "$tmp/other.h5" "fingerprint" -- \
  "${common[@]}" --method full,svd --store "$tmp/other.h5"
expect_error "unknown method" "--method" "bogus" "svd" "chunked" -- \
  "${common[@]}" --method full,bogus
expect_error "unknown policy" "--policy" "weird" "sink_recent" -- \
  "${common[@]}" --method svd --store "$tmp/store.h5" --policy weird
expect_error "key rank not in the store" "--key-rank 48" "$tmp/store.h5" "1..32" -- \
  "${common[@]}" --method svd --store "$tmp/store.h5" --key-rank 48
expect_error "value rank not in the store" "--value-ranks" "high=64" "$tmp/store.h5" -- \
  "${common[@]}" --method svd --store "$tmp/store.h5" --value-ranks low=8,med=16,high=64
expect_error "value rank name not in the store" "--value-ranks" "huge" "low=8,med=16,high=32" -- \
  "${common[@]}" --method svd --store "$tmp/store.h5" --value-ranks low,huge
expect_error "svd without a store" "--store" -- "${common[@]}" --method svd
expect_error "chunk size 0" "--chunk-size" -- "${common[@]}" --method chunked --chunk-size 0
printf 'A few words only.\n' >"$tmp/short.txt"
expect_error "dataset shorter than one window" "$tmp/short.txt" "seq_len 256" -- \
  --model "$model" --dataset "$tmp/short.txt" --seq-len 256 --device cpu --no-progress
printf 'seq_lenn: 3\n' >"$tmp/bad.yaml"
expect_error "unknown config key" "$tmp/bad.yaml" "seq_lenn" "seq_len" -- \
  --config "$tmp/bad.yaml" --model "$model" --dataset "$data"
expect_error "missing config file" "$tmp/missing.yaml" -- \
  --config "$tmp/missing.yaml" --model "$model" --dataset "$data"

# ---- SIGTERM mid-run, then --resume == an uninterrupted run
run=(--model "$model" --dataset "$data" --dataset-format jsonl --seq-len 128 --max-windows 10
     --method full,svd,chunked --store "$tmp/store.h5" --policy position --chunk-size 32
     --gen-tokens 8 --device cpu)
"$kvsvd" evaluate "${run[@]}" --out "$tmp/whole" >/dev/null 2>"$tmp/whole.err" \
  || { cat "$tmp/whole.err" >&2; fail "uninterrupted run"; }

"$kvsvd" evaluate "${run[@]}" --out "$tmp/cut" >/dev/null 2>"$tmp/cut.err" &
pid=$!
for _ in $(seq 1 600); do  # up to 60 s for the first finished window
  ls "$tmp/cut/.partial/"w*.json >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -TERM "$pid" 2>/dev/null
wait "$pid"
rc=$?
done_before=$(ls "$tmp/cut/.partial/" 2>/dev/null | grep -c '^w.*\.json$')
if [ "$rc" -ne 143 ]; then
  fail "SIGTERM: exit status $rc, expected 143"; cat "$tmp/cut.err" >&2
elif [ -e "$tmp/cut/summary.json" ]; then
  fail "SIGTERM: summary.json exists after an interrupted run"
else
  echo "ok: SIGTERM stopped the run with status 143 after $done_before of 10 windows"
fi
"$kvsvd" evaluate "${run[@]}" --out "$tmp/cut" --resume >/dev/null 2>"$tmp/resume.err" \
  || { cat "$tmp/resume.err" >&2; fail "resumed run"; }
grep -m1 "resumed" "$tmp/resume.err"

python3 - "$tmp/whole/summary.json" "$tmp/cut/summary.json" <<'EOF' || fail "resumed figures differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
skip = {"prefill_tokens_per_s", "decode_tokens_per_s", "peak_memory_bytes"}
assert len(a["results"]) == len(b["results"]) == 3, "expected 3 configurations"
bad = 0
for ra, rb in zip(a["results"], b["results"]):
    for k, v in ra.items():
        if k in skip:
            continue
        if rb.get(k) != v:
            print(f"  {ra['label']}: {k} {v!r} vs {rb.get(k)!r}")
            bad += 1
for k in ("windows", "seq_len", "scored_tokens"):
    if a[k] != b[k]:
        print(f"  {k}: {a[k]} vs {b[k]}"); bad += 1
print(("ok: " if not bad else "FAIL: ") + "resumed summary vs uninterrupted: "
      f"{bad} differing figures over {len(a['results'])} configurations")
sys.exit(1 if bad else 0)
EOF

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)" >&2
  exit 1
fi
echo "all evaluate error and resume checks passed"
