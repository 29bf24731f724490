#!/usr/bin/env bash
# Fault injection on `kvsvd profile` (activation_pca on the bundled model, 2-3 MPI ranks):
#   1. SIGKILL of one rank mid-run (a non-writer rank, then the writer, rank 0): the job ends
#      non-zero within 60 s, no store at the final name, `--resume` (another rank count) gives a
#      store whose /layers equal an uninterrupted run's (h5dump text, every dataset and attribute).
#   2. SIGTERM to every rank (Slurm preemption): exit 143, the .partial flushed and closed (lock
#      released), resume identical.
#   3. two jobs on the same --out at once: exactly one succeeds, the other names the lock holder;
#      a lock left by a SIGKILLed writer does not block the resume (1b).
#   4. output disk full (a 512 KiB tmpfs; root only): error naming the .partial and ENOSPC, no
#      final store; after space is freed, --resume starts the unreadable .partial over.
#   5. a store with flipped bytes inside a dataset's chunk: `inspect --verify` and `evaluate`
#      refuse it by the Fletcher32 checksum, naming the dataset; flipped bytes inside the
#      dataset's object header (metadata): both refuse it naming the dataset and the checksum;
#      the process that checks the store crashing (as libhdf5 does on some hostile files):
#      evaluate under MPI ends with an error naming the store, no rank ever reads it.
# Where the chunk and the object header lie comes from the HDF5 API (kvsvd-store-probe, built
# with the tests; KVSVD_STORE_PROBE), never from h5dump: the GPU box had no h5dump, the old
# corruption step silently did nothing there and the checks then ran on an intact copy.
# "Mid-run" is made deterministic with KVSVD_FAULT_INJECT=profile:rank<R>:layer<L>:hang (rank R
# stalls before layer L, so the .partial holds exactly the earlier rounds' layers) and by waiting
# for the progress line of those rounds. Every outcome is printed as one "outcome:" line.
#
#   tests/e2e/fault-profile-test.sh KVSVD_BINARY REPO_ROOT   (KVSVD_STORE_PROBE: the probe)
set -uo pipefail
kvsvd=$(realpath "${1:?usage: $0 KVSVD_BINARY REPO_ROOT}")
root=$(realpath "${2:?usage: $0 KVSVD_BINARY REPO_ROOT}")
probe=${KVSVD_STORE_PROBE:-$(dirname "$kvsvd")/../tests/kvsvd-store-probe}
[ -x "$probe" ] || { echo "FAIL: kvsvd-store-probe not found at $probe (build the tests, or set KVSVD_STORE_PROBE)"; exit 1; }
model=$root/assets/models/sotu-llama-tiny
data=$root/assets/datasets/sotu-heldout.jsonl
# shellcheck source=fault-helpers.sh
source "$(dirname "$0")/fault-helpers.sh" fault-profile
left_of() { (cd "$(dirname "$1")" && ls -d "$(basename "$1")"* 2>/dev/null | tr '\n' ' '); }

calib=(--method activation_pca --calib-data "$data" --calib-tokens 128 --seq-len 64 --device cpu)
prof=("$kvsvd" profile --model "$model" "${calib[@]}" --progress)

# wait_for FILE PATTERN SECONDS PID: until FILE holds PATTERN (0), PID ended or time ran out (1).
wait_for() {
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    grep -q -- "$2" "$1" 2>/dev/null && return 0
    kill -0 "$4" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# same_layers A B: every layer attribute and dataset read from A equals B's (SHA-256 of the values
# read through the checksums). A store that does not read is never "the same".
same_layers() {
  local a b
  a=$("$probe" content "$1" | grep '^/layers/') && b=$("$probe" content "$2" | grep '^/layers/') &&
    [ -n "$a" ] && [ "$a" = "$b" ]
}

# ---- 3 (first: its winner is the uninterrupted reference). Two jobs on the same --out at once ----
"${mpirun[@]}" -np 2 "${prof[@]}" --out "$work/race.h5" >/dev/null 2>"$work/race-a.err" &
ja=$!
"${mpirun[@]}" -np 2 "${prof[@]}" --out "$work/race.h5" >/dev/null 2>"$work/race-b.err" &
jb=$!
ra=0; rb=0
wait "$ja" || ra=$?
wait "$jb" || rb=$?
lock_msg="profile store $work/race.h5 is being written by another job \((pid [0-9]+ on host [^ ]+|holder unknown)"
if [ "$ra" -eq 0 ] && [ "$rb" -ne 0 ]; then loser=b; elif [ "$rb" -eq 0 ] && [ "$ra" -ne 0 ]; then loser=a
else loser=; fail "race: exits $ra and $rb, expected exactly one 0"; fi
if [ -n "$loser" ]; then
  if grep -Eq -- "$lock_msg" "$work/race-$loser.err"; then
    msg=$(grep -Eo -- "is being written by another job \([^)]*\)" "$work/race-$loser.err" | head -1)
  else
    fail "race: the loser's stderr lacks the lock message"; sed 's/^/    /' "$work/race-$loser.err" | head -5
  fi
fi
outcome "two profile jobs, same --out: exits $ra/$rb; loser: ${msg:-?}; left: $(left_of "$work/race.h5")"

[ -e "$work/race.h5" ] || { fail "no reference store"; exit 1; }
ln -s "$work/race.h5" "$work/ref.h5"
# A control: the comparison below can fail.
"$kvsvd" profile --model "$model" --method weight_svd --out "$work/weights.h5" >/dev/null 2>&1 ||
  fail "weight_svd control store"
same_layers "$work/ref.h5" "$work/weights.h5" && fail "same_layers cannot tell two different stores apart"

# interrupt NAME NP HANG_RANK HANG_LAYER WAIT_PATTERN SIGNAL TARGET_RANKS...: starts a run that
# stalls, waits for WAIT_PATTERN in its stderr, sends SIGNAL to the target ranks and waits for
# the job. Sets rc and dt (seconds from the signal to the end of mpirun).
interrupt() {
  local name=$1 np=$2 hang_rank=$3 hang_layer=$4 pattern=$5 sig=$6; shift 6
  local out=$work/$name.h5 pids=() r p
  KVSVD_FAULT_INJECT=profile:rank$hang_rank:layer$hang_layer:hang \
    "${mpirun[@]}" -np "$np" "${prof[@]}" --out "$out" >"$work/$name.out" 2>"$work/$name.err" &
  local job=$!
  if ! wait_for "$work/$name.err" "$pattern" 60 "$job"; then
    fail "$name: never reached '$pattern'"; sed 's/^/    /' "$work/$name.err" | tail
    kill -9 "$job" 2>/dev/null; wait "$job" 2>/dev/null; rc=-1; dt=0; return
  fi
  for r in "$@"; do
    p=$(rank_pid "$out" "$r") || { fail "$name: no process for rank $r"; continue; }
    pids+=("$p")
  done
  local t0
  t0=$(now)
  kill "-$sig" "${pids[@]}"
  # Bounded: a hung job is killed after 90 s (and fails the check below).
  (sleep 90; kill -9 "$job" 2>/dev/null) &
  local guard=$!
  rc=0
  wait "$job" || rc=$?
  dt=$(secs "$t0" "$(now)")
  kill "$guard" 2>/dev/null; wait "$guard" 2>/dev/null
}

# check_resume NAME NP EXPECT_DONE: resumes NAME's store with NP ranks, expects EXPECT_DONE
# layers skipped and the reference's numbers. Prints "identical" or "DIFFERENT".
check_resume() {
  local name=$1 np=$2 done_layers=$3 out=$work/$1.h5 rrc=0
  "${mpirun[@]}" -np "$np" "${prof[@]}" --out "$out" --resume >/dev/null 2>"$work/$name.resume.err" || rrc=$?
  if [ "$rrc" -ne 0 ]; then
    fail "$name: resume exit $rrc"; sed 's/^/    /' "$work/$name.resume.err" | tail; identical=no; return
  fi
  grep -q "$done_layers of 6 layers already complete" "$work/$name.resume.err" ||
    fail "$name: resume did not skip $done_layers layers: $(grep -m1 resum "$work/$name.resume.err")"
  [ ! -e "$out.partial" ] || fail "$name: .partial left after the resume"
  if same_layers "$work/ref.h5" "$out"; then identical=yes; else identical=no; fail "$name: resumed store differs"; fi
}

# ---- 1a. SIGKILL a non-writer rank between layer rounds (-np 2, resume -np 3) ----
interrupt kill1 2 1 4 "layers 2/6 done" KILL 1
left=$(left_of "$work/kill1.h5")
[ "$rc" -ne 0 ] || fail "kill1: exit 0 after SIGKILL of rank 1"
awk -v d="$dt" 'BEGIN { exit !(d < 60) }' || fail "kill1: took $dt s to end after the kill"
[ ! -e "$work/kill1.h5" ] || fail "kill1: a store appeared at the final name"
[ -e "$work/kill1.h5.partial" ] || fail "kill1: no .partial left to resume"
check_resume kill1 3 2
outcome "SIGKILL rank 1 of 2 mid-layers: exit $rc after $dt s; left: $left; resume -np 3 identical: $identical"

# ---- 1b. SIGKILL the writer (rank 0 of 3) while it holds the lock and the open .partial ----
interrupt kill0 3 2 5 "layers 3/6 done" KILL 0
left=$(left_of "$work/kill0.h5")
[ "$rc" -ne 0 ] || fail "kill0: exit 0 after SIGKILL of rank 0"
awk -v d="$dt" 'BEGIN { exit !(d < 60) }' || fail "kill0: took $dt s to end after the kill"
[ ! -e "$work/kill0.h5" ] || fail "kill0: a store appeared at the final name"
[ -e "$work/kill0.h5.lock" ] || fail "kill0: expected the dead writer's stale lock file (the resume must not mind it)"
check_resume kill0 2 3
[ ! -e "$work/kill0.h5.lock" ] || fail "kill0: the resume left the lock file"
outcome "SIGKILL rank 0 (writer) of 3 mid-layers: exit $rc after $dt s; left: $left; stale lock ignored; resume -np 2 identical: $identical"

# ---- 2. SIGTERM to every rank: the in-flight round is written, then a clean stop (143) ----
interrupt term 2 1 4 "layers 2/6 done" TERM 0 1
left=$(left_of "$work/term.h5")
[ "$rc" -eq 143 ] || { fail "term: exit $rc, expected 143"; sed 's/^/    /' "$work/term.err" | tail; }
awk -v d="$dt" 'BEGIN { exit !(d < 60) }' || fail "term: took $dt s to stop"
grep -q "rerun with --resume" "$work/term.err" || fail "term: no 'rerun with --resume' message"
[ ! -e "$work/term.h5" ] && [ -e "$work/term.h5.partial" ] || fail "term: expected only the .partial"
[ ! -e "$work/term.h5.lock" ] || fail "term: the stopped writer left its lock file (not a clean stop)"
check_resume term 2 4
outcome "SIGTERM all ranks of 2 mid-layers: exit $rc after $dt s; left: $left; resume identical: $identical"

# ---- 4. the output disk fills up ----
full=$work/full
mkdir -p "$full"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs -o size=512k tmpfs "$full" 2>/dev/null; then
  mounted=$full
  # The store is ~440 KiB: leave ~200 KiB so that the first layers fit and a later one does not.
  dd if=/dev/zero of="$full/filler" bs=1k count=300 status=none
  t0=$(now); rc=0
  "${mpirun[@]}" -np 2 "${prof[@]}" --out "$full/s.h5" >/dev/null 2>"$work/full.err" || rc=$?
  dt=$(secs "$t0" "$(now)")
  left=$(left_of "$full/s.h5")
  [ "$rc" -ne 0 ] || fail "disk full: exit 0"
  grep -q "$full/s.h5.partial" "$work/full.err" && grep -q "No space left on device" "$work/full.err" ||
    { fail "disk full: the error lacks the path or ENOSPC"; sed 's/^/    /' "$work/full.err" | head -5; }
  [ ! -e "$full/s.h5" ] || fail "disk full: a store appeared at the final name"
  rm -f "$full/filler"
  rrc=0
  "${mpirun[@]}" -np 2 "${prof[@]}" --out "$full/s.h5" --resume >/dev/null 2>"$work/full.resume.err" || rrc=$?
  identical=no
  if [ "$rrc" -ne 0 ]; then fail "disk full: resume after freeing space exit $rrc"; sed 's/^/    /' "$work/full.resume.err" | tail -3
  elif same_layers "$work/ref.h5" "$full/s.h5"; then identical=yes; else fail "disk full: resumed store differs"; fi
  how=$(grep -qi "cannot be resumed" "$work/full.resume.err" && echo "unreadable .partial started over" || echo "resumed")
  outcome "profile, output tmpfs full: exit $rc after $dt s; left: $left; after freeing space --resume ($how) identical: $identical"
  umount "$full" && mounted=
else
  # Without root (no tmpfs mount): a file-size limit on the ranks (not on mpirun, whose PMIx
  # segments it would break) makes the store's writes fail the same way (EFBIG, not ENOSPC).
  t0=$(now); rc=0
  "${mpirun[@]}" -np 2 bash -c 'trap "" XFSZ; ulimit -f 200; exec "$0" "$@"' "${prof[@]}" \
    --out "$full/s.h5" >/dev/null 2>"$work/full.err" || rc=$?
  dt=$(secs "$t0" "$(now)")
  [ "$rc" -ne 0 ] || fail "file size limit: exit 0"
  grep -q "$full/s.h5.partial" "$work/full.err" || { fail "file size limit: the error lacks the path"; sed 's/^/    /' "$work/full.err" | head -5; }
  [ ! -e "$full/s.h5" ] || fail "file size limit: a store appeared at the final name"
  outcome "profile, file size limit (not root: no tmpfs): exit $rc after $dt s; left: $(left_of "$full/s.h5")"
fi

# ---- 5. flipped bytes inside a dataset's chunk, then inside its object header ----
ds=/layers/2/value_basis
ev_args=(--model "$model" --dataset "$data" --dataset-format jsonl --seq-len 32 --max-windows 2
         --method full,svd --device cpu)
"$kvsvd" inspect --verify "$work/ref.h5" >/dev/null 2>&1 || fail "inspect --verify refuses the intact store"
# flip FILE OFFSET COUNT: inverts COUNT bytes at OFFSET; fails when the file did not change there.
flip() {
  python3 - "$1" "$2" "$3" <<'PY'
import sys
path, at, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = bytearray(open(path, "rb").read())
assert 0 <= at and at + n <= len(data), f"offset {at}+{n} outside the file ({len(data)} bytes)"
for i in range(at, at + n):
    data[i] ^= 0xFF
open(path, "wb").write(data)
PY
}
# damaged NAME WHAT PATTERN: inspect --verify and evaluate on $work/NAME.h5 must exit non-zero
# with PATTERN (an ERE naming the dataset) in their output, and evaluate must write no summary.
damaged() {
  local name=$1 what=$2 pattern=$3 rc=0 erc=0
  "$kvsvd" inspect --verify "$work/$name.h5" >"$work/$name.verify" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || fail "$what: inspect --verify exit 0"
  grep -Eq -- "$pattern" "$work/$name.verify" ||
    { fail "$what: inspect --verify output lacks /$pattern/"; sed 's/^/    /' "$work/$name.verify" | tail -5; }
  "${mpirun[@]}" -np 2 "$kvsvd" evaluate "${ev_args[@]}" --store "$work/$name.h5" --out "$work/ev-$name" \
    >/dev/null 2>"$work/ev-$name.err" || erc=$?
  [ "$erc" -ne 0 ] || fail "$what: evaluate exit 0"
  grep -Eq -- "$pattern" "$work/ev-$name.err" ||
    { fail "$what: evaluate's error lacks /$pattern/"; sed 's/^/    /' "$work/ev-$name.err" | head -3; }
  [ ! -e "$work/ev-$name/summary.json" ] || fail "$what: evaluate wrote a summary"
  outcome "$what: inspect --verify exit $rc, evaluate (-np 2) exit $erc: $(grep -Eo -- "$pattern" "$work/ev-$name.err" | head -1)"
}

# 5a. Inside the data HDF5 reads: the chunk's address and size from H5Dget_chunk_info.
read -r caddr csize < <("$probe" extents "$work/ref.h5" "$ds" | head -1)
if [ -z "${caddr:-}" ] || [ "${csize:-0}" -le 16 ]; then
  fail "no chunk of $ds found through the HDF5 API"
else
  cp "$work/ref.h5" "$work/bad-data.h5"
  at=$((caddr + csize / 2 - 4))  # 8 bytes from the middle of the chunk, before its checksum
  if flip "$work/bad-data.h5" "$at" 8 && ! cmp -s "$work/ref.h5" "$work/bad-data.h5"; then
    # The bytes are inside [chunk address, + size): the chunk that a read of $ds fetches.
    [ "$at" -ge "$caddr" ] && [ $((at + 8)) -le $((caddr + csize)) ] || fail "flipped bytes outside the chunk"
    damaged bad-data "8 bytes flipped at $at inside the chunk of $ds ($caddr+$csize)" \
      "$ds in $work/bad-data.h5.*Fletcher32"
  else
    fail "could not corrupt the chunk of $ds"
  fi
fi

# 5b. Metadata: the middle of the dataset's object header (v2, checksummed), from H5Oget_info.
read -r haddr hsize < <("$probe" header "$work/ref.h5" "$ds")
if [ -z "${haddr:-}" ] || [ "${hsize:-0}" -le 16 ]; then
  fail "no object header of $ds found through the HDF5 API"
else
  cp "$work/ref.h5" "$work/bad-meta.h5"
  at=$((haddr + hsize / 2))
  if flip "$work/bad-meta.h5" "$at" 4 && ! cmp -s "$work/ref.h5" "$work/bad-meta.h5"; then
    damaged bad-meta "4 bytes flipped at $at inside the object header of $ds ($haddr+$hsize)" \
      "$ds in $work/bad-meta.h5.*checksum"
  else
    fail "could not corrupt the object header of $ds"
  fi
fi

# 5c. The checking process crashes (what libhdf5 does on some hostile files): a named error, and
# no rank has read the store.
crc=0
KVSVD_FAULT_INJECT=store-check:crash "${mpirun[@]}" -np 2 -x KVSVD_FAULT_INJECT "$kvsvd" evaluate \
  "${ev_args[@]}" --store "$work/ref.h5" --out "$work/ev-crash" >/dev/null 2>"$work/ev-crash.err" || crc=$?
[ "$crc" -ne 0 ] || fail "checker crash: evaluate exit 0"
grep -q "profile store $work/ref.h5 crashed the HDF5 reader (signal 11" "$work/ev-crash.err" ||
  { fail "checker crash: evaluate's error does not name the store and the crash"; sed 's/^/    /' "$work/ev-crash.err" | head -3; }
[ ! -e "$work/ev-crash/summary.json" ] || fail "checker crash: evaluate wrote a summary"
outcome "store checker crashed (injected SIGSEGV): evaluate (-np 2) exit $crc: $(grep -o "crashed the HDF5 reader ([^)]*)" "$work/ev-crash.err" | head -1)"

echo "test-fault-profile: $(($(date +%s) - t_start)) s"
if [ "$failures" -ne 0 ]; then echo "test-fault-profile: $failures failure(s)"; exit 1; fi
echo "test-fault-profile: all scenarios passed"
