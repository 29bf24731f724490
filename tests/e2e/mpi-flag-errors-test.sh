#!/usr/bin/env bash
# An error every rank sees the same way (a bad flag, an invalid config, a missing model) ends an
# `mpirun -np 2` job with its message printed once, exit status 2 and no MPI_ABORT banner.
#   tests/e2e/mpi-flag-errors-test.sh KVSVD_BINARY REPO_ROOT
set -uo pipefail
kvsvd=$(realpath "${1:?usage: $0 KVSVD_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: $0 KVSVD_BINARY REPO_ROOT}")
model=$root/assets/models/sotu-llama-tiny
data=$root/assets/datasets/sotu-heldout.jsonl
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2)
work=$(mktemp -d /tmp/kvsvd-e2e-flag-errors.XXXXXX)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL [$1]: $2"; sed 's/^/    /' "$work/out.txt" | head -30; failures=$((failures + 1)); }

# expect_once NAME NEEDLE ARGS...: `mpirun -np 2 kvsvd ARGS` exits 2, prints NEEDLE (fixed text)
# on exactly one line, prints one error line in all, and no MPI_ABORT banner.
expect_once() {
  local name=$1 needle=$2; shift 2
  "${mpirun[@]}" "$kvsvd" "$@" >"$work/out.txt" 2>&1
  local rc=$?
  local hits errors
  hits=$(grep -cF -- "$needle" "$work/out.txt")
  errors=$(grep -c "error:" "$work/out.txt")
  if [ "$rc" -ne 2 ]; then fail "$name" "exit status $rc, expected 2"; return; fi
  if [ "$hits" -ne 1 ]; then fail "$name" "'$needle' printed $hits times, expected once"; return; fi
  if [ "$errors" -ne 1 ]; then fail "$name" "$errors error lines, expected 1"; return; fi
  if grep -q "MPI_ABORT" "$work/out.txt"; then fail "$name" "MPI_ABORT banner"; return; fi
  echo "ok   [$name]: exit 2, once: $(grep -F -- "$needle" "$work/out.txt" | cut -c1-140)"
}

printf 'seq_len: 64\nseq_lenn: 3\n' >"$work/typo.yaml"
printf 'key_rank: [8, 16]\n' >"$work/list.yaml"

expect_once "evaluate: unknown method" "unknown KV-cache method 'svdd'" \
  evaluate --model "$model" --dataset "$data" --method svdd --device cpu
expect_once "evaluate: value out of range" "--chunk-size must be > 0, got 0" \
  evaluate --model "$model" --dataset "$data" --method chunked --chunk-size 0 --device cpu
expect_once "evaluate: unknown flag" "--no-such-flag" \
  evaluate --model "$model" --dataset "$data" --no-such-flag
expect_once "evaluate: config key that is no flag" "$work/typo.yaml:2: unknown key 'seq_lenn'" \
  evaluate --config "$work/typo.yaml" --model "$model" --dataset "$data" --device cpu
expect_once "evaluate: missing config" "$work/missing.yaml" \
  evaluate --config "$work/missing.yaml" --model "$model" --dataset "$data" --device cpu
expect_once "evaluate: missing model" "$work/no-model/config.json" \
  evaluate --model "$work/no-model" --dataset "$data" --device cpu
expect_once "evaluate: svd without a store" "--method svd needs --store" \
  evaluate --model "$model" --dataset "$data" --method svd --device cpu
expect_once "profile: unknown method" "--method 'svd_magic': unknown method" \
  profile --model "$model" --out "$work/p.h5" --method svd_magic
expect_once "profile: a list for a one-value key" "$work/list.yaml:1: key_rank: takes one value" \
  profile --config "$work/list.yaml" --model "$model" --out "$work/p.h5"
expect_once "profile: missing model" "$work/no-model" \
  profile --model "$work/no-model" --out "$work/p.h5" --device cpu
[ ! -e "$work/p.h5" ] && [ ! -e "$work/p.h5.partial" ] || { echo "FAIL: a refused job left a store"; failures=$((failures + 1)); }

if [ "$failures" -ne 0 ]; then echo "mpi-flag-errors: $failures failure(s)"; exit 1; fi
echo "all MPI flag-error checks passed"
