#!/usr/bin/env bash
# Benchmark of `kvsvd evaluate` on the bundled model: prefill and decode tokens/s of full and of
# each compressed method, KV bytes per token and quality, as a table. Prints, never asserts.
#   scripts/bench-evaluate.sh [KVSVD_BINARY]
# Environment: STORE (a profile store of the bundled model; default: made with `kvsvd profile`),
# DATASET (default the held-out SOTU set), SEQ_LEN (256), WINDOWS (8), GEN (32), DEVICE (auto),
# DTYPE (float32), NP (1: MPI ranks), OUT (a scratch folder).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kvsvd=${1:-${KVSVD_BIN:-$root/build/stages/kvsvd}}
model=$root/assets/models/sotu-llama-tiny
dataset=${DATASET:-$root/assets/datasets/sotu-heldout.jsonl}
out=${OUT:-$(mktemp -d /tmp/kvsvd-bench-eval-XXXXXX)}
np=${NP:-1}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mkdir -p "$out"
store=${STORE:-$out/store.h5}
if [ ! -e "$store" ]; then
  echo "== profile (weight_svd, key rank 64, low/med/high = 16/32/64) -> $store"
  "$kvsvd" profile --model "$model" --key-rank 64 --value-ranks low=16,med=32,high=64 \
    --out "$store" >/dev/null
fi
launch=()
[ "$np" -gt 1 ] && launch=(mpirun -np "$np" --bind-to none)
echo "== evaluate: $(basename "$dataset"), seq_len ${SEQ_LEN:-256}, ${WINDOWS:-8} windows, " \
     "${GEN:-32} generated tokens, device ${DEVICE:-auto}, ${DTYPE:-float32}, $np rank(s)"
"${launch[@]}" "$kvsvd" evaluate --model "$model" --dataset "$dataset" --store "$store" \
  --seq-len "${SEQ_LEN:-256}" --max-windows "${WINDOWS:-8}" --gen-tokens "${GEN:-32}" \
  --device "${DEVICE:-auto}" --dtype "${DTYPE:-float32}" \
  --method full,svd,chunked --key-rank 16,32,64 --policy position --policy uniform:high \
  --chunk-size 64 --compression-ratio 2,4 --no-progress --out "$out/run" >/dev/null
python3 - "$out/run/summary.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
rows = s["results"]
full = next(r for r in rows if r["label"] == "full")
print(f"{'configuration':38} {'ppl':>8} {'delta':>8} {'KL':>8} {'top-1':>6} {'KV B/tok':>9} "
      f"{'ratio':>6} {'prefill t/s':>11} {'x full':>6} {'decode t/s':>10} {'x full':>6}")
for r in rows:
    pre, dec = r["prefill_tokens_per_s"], r.get("decode_tokens_per_s", 0)
    print(f"{r['label']:38} {r['perplexity']:8.3f} {r['delta_perplexity']:+8.3f} "
          f"{r['kl_mean']:8.5f} {r['top1_agreement']:6.3f} {r['kv_bytes_per_token']:9.1f} "
          f"{r['compression_ratio_vs_full']:6.2f} {pre:11.0f} {pre / full['prefill_tokens_per_s']:6.2f} "
          f"{dec:10.1f} {dec / max(full.get('decode_tokens_per_s', 1), 1e-9):6.2f}")
p = s["provenance"]
print(f"({s['windows']} windows x {s['seq_len']} tokens, device {p['device']}, "
      f"{p['world_size']} rank(s), kvsvd {p['kvsvd_version']} {p['git_rev']})")
EOF
echo "run folder: $out/run"
