#!/usr/bin/env bash
# Times `kvsvd profile` per phase (load, calibrate, decompose, gather, write) on one checkpoint,
# for weight_svd and activation_pca at several MPI rank counts, and prints one table.
#
#   scripts/bench-profile.sh [MODEL_DIR] [KVSVD_BINARY]
#
# MODEL_DIR defaults to assets/models/sotu-llama-tiny, the binary to ${BUILD_DIR:-build}/stages/kvsvd.
# Environment: NPS (rank counts, default "1 2"), DEVICE (default cpu), CALIB (calibration text,
# default assets/datasets/sotu-calib.jsonl, the training split), CALIB_TOKENS (default 8192), SEQ_LEN (default 256),
# REPEAT (runs per configuration, the fastest total is kept; default 1).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=$(realpath "${1:-$root/assets/models/sotu-llama-tiny}")
kvsvd=$(realpath "${2:-${BUILD_DIR:-$root/build}/stages/kvsvd}")
[ -x "$kvsvd" ] || { echo "bench-profile: no kvsvd binary at $kvsvd (build first, or pass it as \$2)" >&2; exit 2; }
[ -f "$model/config.json" ] || { echo "bench-profile: $model has no config.json" >&2; exit 2; }
nps=${NPS:-"1 2"}
device=${DEVICE:-cpu}
calib=${CALIB:-$root/assets/datasets/sotu-calib.jsonl}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d /tmp/kvsvd-bench-profile.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "bench-profile: model $model, device $device, $(nproc) cores, $(date -u +%FT%TZ)"
printf '%-15s %3s %8s %10s %10s %8s %8s %8s  %s\n' method np load calibrate decompose gather write total "(seconds; max over ranks per phase)"
for method in weight_svd activation_pca; do
  extra=(--store-fused)
  if [ "$method" = activation_pca ]; then
    extra+=(--calib-data "$calib" --calib-tokens "${CALIB_TOKENS:-8192}" --seq-len "${SEQ_LEN:-256}")
  fi
  for np in $nps; do
    best=
    for _ in $(seq "${REPEAT:-1}"); do
      rm -f "$work/s.h5"
      mpirun --oversubscribe --allow-run-as-root --bind-to none -np "$np" "$kvsvd" profile \
        --model "$model" --out "$work/s.h5" --method "$method" --device "$device" "${extra[@]}" \
        2>"$work/err.txt" >/dev/null || { cat "$work/err.txt" >&2; exit 1; }
      # The stage's timing line (profile: timing {"seconds_per_rank": [...]}) -> max over ranks.
      row=$(sed -n 's/^profile: timing //p' "$work/err.txt" | python3 -c '
import json, sys
ranks = json.loads(sys.stdin.read())["seconds_per_rank"]
phases = ["load", "calibrate", "decompose", "gather", "write", "total"]
print(" ".join("%.3f" % max(r[p] for r in ranks) for p in phases))') ||
        { echo "bench-profile: no timing line in the profile output:" >&2; cat "$work/err.txt" >&2; exit 1; }
      total=${row##* }
      if [ -z "$best" ] || awk "BEGIN{exit !($total < ${best##* })}"; then best=$row; fi
    done
    read -r l c d g w t <<<"$best"
    printf '%-15s %3s %8s %10s %10s %8s %8s %8s\n' "$method" "$np" "$l" "$c" "$d" "$g" "$w" "$t"
  done
done
