#!/usr/bin/env bash
# One-GPU checks of `evaluate --pipeline-stages` (issue 16), on top of scripts/gpu-bench.sh:
#   8b    the 8B-shaped checkpoint: the whole-model path against --pipeline-stages 1 (the
#         pipeline code with one stage) on the same windows; figures must be identical, and the
#         per-phase tokens/s of both are printed with their ratio (goal: no slowdown)
#   70b   a LLaMA-3-70B-shaped checkpoint cut to the layers that fit this GPU and disk
#         (LAYERS70 overrides; DROP8B=1 deletes the 8B checkpoint first to free its 16 GB of
#         disk), profiled, then evaluated with --pipeline-stages auto (the memory
#         check picks S = 1 here) against the whole-model path: identical figures, tokens/s
#   scripts/gpu-pipeline-check.sh [build] [8b] [70b]      (default: build 8b 70b)
# Uses gpu-bench.sh's build (build-gpu/) and its 8B checkpoint, tokenizer and windows (make).
# Every figure goes to $OUT/results.jsonl tagged {"bench": "pipeline-..."}, logs to $OUT.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/kvsvd-gpu-out}
build=${BUILD_DIR:-$root/build-gpu}
work=${WORK:-/tmp/kvsvd-bench8b}
kvsvd=$build/stages/kvsvd
export OUT=$out BUILD_DIR=$build WORK=$work OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out" "$work"
say() { echo "[gpu-pipeline $(date -u +%T)] $*" | tee -a "$out/pipeline.log"; }
windows=${WINDOWS:-4}
gen=${GEN_TOKENS:-16}

# evaluate NAME ARGS...: one run into $work/NAME, its wall time as a JSON line.
evaluate() {
  local name=$1; shift
  local t0=$SECONDS
  "$kvsvd" evaluate "$@" --out "$work/$name" --no-progress > "$out/$name.log" 2>&1 ||
    { tail -n 30 "$out/$name.log"; return 1; }
  echo "{\"bench\": \"pipeline-wall\", \"run\": \"$name\", \"wall_s\": $((SECONDS - t0))}" |
    tee -a "$out/results.jsonl"
  cp "$work/$name/summary.json" "$out/$name-summary.json"
}

# compare NAME A B: every non-timing figure of two summaries equal; tokens/s ratio B / A.
compare() {
  python3 - "$1" "$2" "$3" <<'PY' | tee -a "$out/results.jsonl"
import json, sys
name, a, b = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
skip = lambda k: "_per_s" in k or "seconds" in k or "memory" in k
diff = []
for ra, rb in zip(a["results"], b["results"]):
    for k, v in ra.items():
        if not skip(k) and rb.get(k) != v:
            diff.append([ra["label"], k, v, rb.get(k)])
rates = {}
for ra, rb in zip(a["results"], b["results"]):
    for k in ("prefill_tokens_per_s", "decode_tokens_per_s"):
        if ra.get(k):
            rates[ra["label"] + " " + k] = [round(ra[k], 1), round(rb.get(k, 0), 1),
                                            round(rb.get(k, 0) / ra[k], 3)]
print(json.dumps({"bench": "pipeline-" + name, "identical": not diff and len(a["results"]) == len(b["results"]),
                  "differences": diff[:10], "rates_whole_pipeline_ratio": rates,
                  "layer_split": b["provenance"].get("pipeline", {}).get("layer_split")}))
PY
}

phase_build() { bash "$root/scripts/gpu-bench.sh" build; }

phase_8b() {
  bash "$root/scripts/gpu-bench.sh" make
  local ckpt=$work/llama3-8b-shaped
  [ -f "$work/wsvd.h5" ] || "$kvsvd" profile --model "$ckpt" --method weight_svd --device cuda \
    --out "$work/wsvd.h5" > "$out/pipeline-profile-8b.log" 2>&1
  local ev=(--model "$ckpt" --dataset "$work/windows.json" --seq-len 0 --max-windows "$windows"
            --store "$work/wsvd.h5" --device cuda --dtype bfloat16 --method full,svd,quant
            --kv-bits 4 --key-rank 32 --policy position --gen-tokens "$gen")
  evaluate pipe-8b-whole "${ev[@]}"
  evaluate pipe-8b-s1 "${ev[@]}" --pipeline-stages 1
  compare 8b-s1 "$out/pipe-8b-whole-summary.json" "$out/pipe-8b-s1-summary.json"
}

phase_70b() {
  local ckpt=$work/llama3-70b-shaped layers=${LAYERS70:-}
  [ "${DROP8B:-0}" = 1 ] && rm -rf "$work/llama3-8b-shaped"
  if [ -z "$layers" ]; then
    # 1.71 GB per layer and 2 x 2.1 GB of embedding + head in bf16; keep 25% of the GPU for KV,
    # activations and the allocator, and 12 GB of disk for everything else.
    layers=$(python3 - "$work" <<'PY'
import shutil, subprocess, sys
gpu = int(subprocess.check_output(["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits"]).split()[0]) * 2**20
disk = shutil.disk_usage(sys.argv[1]).free
layer, ends = 855654400 * 2, 2 * 128256 * 8192 * 2
print(max(1, min(80, int((0.75 * gpu - ends) // layer), int((disk - 12e9 - ends) // layer))))
PY
)
  fi
  say "70B shape cut to $layers layers"
  if [ ! -f "$ckpt/config.json" ]; then
    python3 "$root/scripts/bench-hf-8b.py" make "$ckpt" --shape 70b --num-layers "$layers" |
      tee -a "$out/results.jsonl"
  fi
  cp "$root/.carry/bench/tokenizer.json" "$ckpt/tokenizer.json"
  [ -f "$work/windows.json" ] || python3 "$root/scripts/bench-hf-8b.py" windows "$ckpt" "$work/windows.json" 16 2048
  [ -f "$work/wsvd70.h5" ] || "$kvsvd" profile --model "$ckpt" --method weight_svd --device cuda \
    --out "$work/wsvd70.h5" > "$out/pipeline-profile-70b.log" 2>&1
  local ev=(--model "$ckpt" --dataset "$work/windows.json" --seq-len 0 --max-windows "$windows"
            --store "$work/wsvd70.h5" --device cuda --dtype bfloat16 --method full,svd,quant
            --kv-bits 4 --key-rank 32 --policy position --gen-tokens "$gen")
  evaluate pipe-70b-whole "${ev[@]}"
  evaluate pipe-70b-auto "${ev[@]}" --pipeline-stages auto
  compare 70b-auto "$out/pipe-70b-whole-summary.json" "$out/pipe-70b-auto-summary.json"
}

phases=("$@")
[ ${#phases[@]} -gt 0 ] || phases=(build 8b 70b)
for p in "${phases[@]}"; do
  case $p in
    build|8b|70b) "phase_$p" ;;
    *) echo "gpu-pipeline-check: unknown phase '$p' (build 8b 70b)" >&2; exit 2 ;;
  esac
done
