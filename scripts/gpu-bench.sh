#!/usr/bin/env bash
# LLaMA-3-8B-shaped benchmark on the GPU box: kvsvd against transformers on the same checkpoint
# (random bf16 weights, LLaMA-3-8B's exact config.json) and the same token windows.
#
#   scripts/gpu-bench.sh PHASE...      phases: build make profile prefill decode scale all
#
#   build    CUDA variant of kvsvd (LibTorch from Python's torch) into $BUILD_DIR (build-gpu)
#   make     the 8B-shaped checkpoint, the Llama-3 tokenizer beside it, 16 windows of 2048 ids
#   profile  kvsvd profile weight_svd (+ fused outputs) and activation_pca (131072 calibration
#            tokens of SOTU text, post-RoPE keys) against the Python way (from_pretrained + SVD)
#   prefill  tokens/s of full, svd (pre-/post-RoPE keys), chunked against transformers (SDPA),
#            logits of full against transformers' on 2 windows, plus the copy bandwidth
#   decode   per method, batch (1/16/64) and context (4K/16K): ms per step, tokens/s, the step's
#            byte bound (weights + that method's KV bytes read over the copy bandwidth measured
#            in the same run) and the fraction reached, against transformers' eager generate and
#            its static cache + compiled decoding step (one fixed max cache length per point);
#            DECODE_METHODS picks among "graph full svd svd-graph quant4 quant2 chunked hf
#            hf-static" (graph: the decode engine with each step one CUDA graph replay; full: the
#            engine's eager steps; quant steps are graphs, chunked steps always eager); table in
#            $OUT/decode-table.md
#   scale    profile and evaluate at 1 rank and at one rank per GPU (NCCL), results compared
#   table    the decode table again from $OUT/results.jsonl
# Inputs: .carry/bench/{sotu.txt,tokenizer.json} (the corpus and Llama-3 tokenizer, carried).
# Every figure goes to $OUT/results.jsonl (one JSON object per line, tagged with "bench"), every
# log to $OUT/bench.log (the device tool returns at most 8 files).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/kvsvd-gpu-out}
build=${BUILD_DIR:-$root/build-gpu}
work=${WORK:-/tmp/kvsvd-bench8b}
kvsvd=$build/stages/kvsvd
ckpt=$work/llama3-8b-shaped
hf() { python3 "$root/scripts/bench-hf-8b.py" "$@"; }
export PYTHONUNBUFFERED=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export HF_HUB_DISABLE_PROGRESS_BARS=1 TRANSFORMERS_VERBOSITY=error TQDM_DISABLE=1
mkdir -p "$out" "$work"
say() { echo "[gpu-bench $(date -u +%T)] $*" | tee -a "$out/bench.log"; }
# Runs a command; each JSON line it prints goes to $out/results.jsonl tagged {"bench": NAME},
# its stderr to the log.
record() {
  local name=$1; shift
  local t0=$SECONDS
  "$@" 2>>"$out/bench.log" | python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if line.startswith("{"):
        row = {"bench": sys.argv[1], **json.loads(line)}
        print(json.dumps(row), flush=True)
' "$name" | tee -a "$out/results.jsonl"
  say "$name: $((SECONDS - t0)) s wall"
}

phase_build() {
  {
    date -u +%FT%TZ
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__)'
    git -C "$root" rev-parse --short HEAD 2>/dev/null || true
  } | tee "$out/env.txt"
  source "$root/scripts/gpu-cmake-args.sh"
  local t0=$SECONDS
  cmake -S "$root" -B "$build" "${gpu_cmake_args[@]}" > "$out/configure.log" 2>&1 || { tail -n 30 "$out/configure.log"; exit 1; }
  if ! cmake --build "$build" -j "$(nproc)" --target kvsvd ${BUILD_TARGETS:-} > "$out/build.log" 2>&1; then
    grep -E "error|FAILED" -A3 "$out/build.log" | head -n 60
    exit 1
  fi
  say "build: $((SECONDS - t0)) s"
}

phase_make() {
  if [ ! -f "$ckpt/config.json" ]; then
    record make hf make "$ckpt"
  fi
  cp "$root/.carry/bench/tokenizer.json" "$ckpt/tokenizer.json"
  [ -f "$work/windows.json" ] || hf windows "$ckpt" "$work/windows.json" 16 2048
  python3 -c "import json,sys; json.dump(json.load(open(sys.argv[1]))[:2], open(sys.argv[2], 'w'))" \
    "$work/windows.json" "$work/windows2.json"
  record bandwidth hf bandwidth
}

# Seconds of one command, as a JSON line under NAME.
timed() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/$name.log" 2>&1 || { tail -n 20 "$work/$name.log"; return 1; }
  t1=$(date +%s.%N)
  python3 -c "import json,sys; print(json.dumps({'bench': 'profile-wall', 'run': sys.argv[1], 'wall_s': float(sys.argv[3]) - float(sys.argv[2])}))" \
    "$name" "$t0" "$t1" | tee -a "$out/results.jsonl"
  { echo "== $name"; grep -v "^\[W" "$work/$name.log"; } >> "$out/bench.log"
  grep -A6 "time per phase" "$work/$name.log" || true
}

phase_profile() {
  local np=${NP:-1}
  local mpi=(mpirun -np "$np" --bind-to none)
  # The page cache is warm (the checkpoint was just written or read): both sides see the same.
  timed kvsvd-weight-svd "${mpi[@]}" "$kvsvd" profile --model "$ckpt" --method weight_svd \
    --device cuda --out "$work/wsvd.h5" --overwrite
  timed kvsvd-weight-svd-fused "${mpi[@]}" "$kvsvd" profile --model "$ckpt" --method weight_svd \
    --store-fused --device cuda --out "$work/wsvd-fused.h5" --overwrite
  record profile hf python-profile "$ckpt"
  timed kvsvd-activation-pca "${mpi[@]}" "$kvsvd" profile --model "$ckpt" --method activation_pca \
    --key-space post_rope --calib-data "$root/.carry/bench/sotu.txt" --calib-tokens 131072 \
    --seq-len 2048 --device cuda --dtype bfloat16 --out "$work/pca-post.h5" --overwrite
  ls -la "$work"/*.h5 | tee -a "$out/bench.log"
}

phase_prefill() {
  local b=${PREFILL_BATCH:-8}
  local common=(--model "$ckpt" --device cuda --dtype bfloat16 --windows "$work/windows.json" --batch "$b")
  record prefill "$kvsvd" bench prefill "${common[@]}" --method full --dump-logits "$work/kvsvd-logits.bin"
  record prefill "$kvsvd" bench prefill "${common[@]}" --method svd --store "$work/wsvd.h5"
  record prefill "$kvsvd" bench prefill "${common[@]}" --method svd --store "$work/pca-post.h5"
  # chunked runs one exact SVD per (chunk, sequence, head, layer): on 2 windows at batch 1 only
  record prefill "$kvsvd" bench prefill --model "$ckpt" --device cuda --dtype bfloat16 \
    --windows "$work/windows2.json" --batch 1 --method full
  record prefill "$kvsvd" bench prefill --model "$ckpt" --device cuda --dtype bfloat16 \
    --windows "$work/windows2.json" --batch 1 --method chunked --chunk-size 64 --compression-ratio 4
  record prefill-hf hf prefill "$ckpt" "$work/windows.json" "$b" "$work/hf-logits.bin"
  record logits-agreement hf compare "$work/kvsvd-logits.bin" "$work/hf-logits.bin"
}

phase_decode() {
  local bs=${DECODE_BATCHES:-1,16,64} cs=${DECODE_CONTEXTS:-4096,16384}
  local grid=(--batches "$bs" --context "$cs" --new-tokens "${DECODE_NEW:-64}")
  local m
  for m in ${DECODE_METHODS:-graph full hf-static hf}; do
    case $m in
      full) record decode "$kvsvd" bench decode --model "$ckpt" --device cuda --dtype bfloat16 \
              --method full "${grid[@]}" ;;
      graph) record decode-graph "$kvsvd" bench decode --model "$ckpt" --device cuda \
               --dtype bfloat16 --method full --cuda-graph "${grid[@]}" ;;
      svd) record decode "$kvsvd" bench decode --model "$ckpt" --device cuda --dtype bfloat16 \
             --method svd --store "$work/pca-post.h5" "${grid[@]}" ;;
      svd-graph) record decode-graph "$kvsvd" bench decode --model "$ckpt" --device cuda \
                   --dtype bfloat16 --method svd --store "$work/pca-post.h5" --cuda-graph "${grid[@]}" ;;
      quant4|quant2) record decode-graph "$kvsvd" bench decode --model "$ckpt" --device cuda \
                       --dtype bfloat16 --method quant --kv-bits "${m#quant}" --cuda-graph \
                       "${grid[@]}" ;;
      chunked) record decode "$kvsvd" bench decode --model "$ckpt" --device cuda --dtype bfloat16 \
                 --method chunked "${grid[@]}" ;;
      hf) record decode-hf hf decode "$ckpt" "${HF_EAGER_BATCHES:-1,16}" "${HF_EAGER_CONTEXTS:-4096}" \
            "${DECODE_NEW:-64}" ;;
      hf-static) record decode-hf-static hf decode-static "$ckpt" \
                   "${HF_STATIC_POINTS:-1x4096,16x16384,64x4096}" "${DECODE_NEW:-64}" ;;
    esac
  done
  decode_table
}

# The decode table: per method, batch and context, ms per step, tokens/s, the step's byte bound
# (weights + that method's KV bytes read, over the copy bandwidth measured in the same run), the
# fraction of it reached, and the ratio to transformers' static-cache compiled generate.
decode_table() {
  python3 - "$out/results.jsonl" <<'EOF2' | tee "$out/decode-table.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
hf = {(r["batch"], r["context"]): r for r in rows if r.get("bench") == "decode-hf-static"}
hfe = {(r["batch"], r["context"]): r for r in rows if r.get("bench") == "decode-hf"}
print("| method | batch x context | ms/step | tokens/s | bound tokens/s | of bound | x hf static+compile | x hf eager |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for r in rows:
    if r.get("mode") != "decode":
        continue
    name = r["method"] + (f"/{r['kv_bits']}b" if r.get("kv_bits") else "") + (" graph" if r.get("cuda_graph") else " eager") + (" (engine)" if r.get("engine") else "")
    key = (r["batch"], r["context"])
    if "error" in r:
        print(f"| {name} | {key[0]} x {key[1]} | {r['error']} | | | | | |")
        continue
    h = hf.get(key, {}).get("hf_static_decode_tokens_per_s")
    e = hfe.get(key, {}).get("hf_decode_tokens_per_s")
    print(f"| {name} | {key[0]} x {key[1]} | {r['ms_per_step']:.2f} | {r['decode_tokens_per_s']:.1f} | "
          f"{r.get('bound_tokens_per_s', 0):.1f} | {100 * r.get('fraction_of_bound', 0):.0f}% | "
          f"{r['decode_tokens_per_s'] / h if h else float('nan'):.2f} | {r['decode_tokens_per_s'] / e if e else float('nan'):.2f} |")
for k, r in sorted(hf.items()):
    print(f"| transformers static+compile | {k[0]} x {k[1]} | {r.get('hf_static_ms_per_step', float('nan')):.2f} | "
          f"{r.get('hf_static_decode_tokens_per_s', float('nan')):.1f} | | | | |")
for k, r in sorted(hfe.items()):
    print(f"| transformers eager generate | {k[0]} x {k[1]} | | {r.get('hf_decode_tokens_per_s', float('nan')):.1f} | | | | |")
EOF2
}

# Strong scaling: the same evaluate (and profile) at 1 rank and at one rank per GPU.
phase_scale() {
  local gpus
  gpus=$(nvidia-smi -L | wc -l)
  [ -f "$work/wsvd.h5" ] || "$kvsvd" profile --model "$ckpt" --method weight_svd --device cuda \
    --out "$work/wsvd.h5" > "$work/wsvd.log" 2>&1
  local ev=(--model "$ckpt" --dataset "$work/windows.json" --seq-len 0 --store "$work/wsvd.h5" --device cuda
            --dtype bfloat16 --method full,svd --key-rank 32 --policy position --gen-tokens 16
            --no-progress)
  for np in 1 "$gpus"; do
    local t0=$SECONDS
    mpirun -np "$np" --bind-to none "$kvsvd" evaluate "${ev[@]}" --out "$work/eval-np$np" \
      > "$out/evaluate-np$np.log" 2>&1 || { tail -n 30 "$out/evaluate-np$np.log"; return 1; }
    echo "{\"bench\": \"scale\", \"run\": \"evaluate\", \"np\": $np, \"wall_s\": $((SECONDS - t0))}" | tee -a "$out/results.jsonl"
    cp "$work/eval-np$np/summary.json" "$out/evaluate-np$np-summary.json"
    timed "profile-wsvd-np$np" mpirun -np "$np" --bind-to none "$kvsvd" profile --model "$ckpt" \
      --method weight_svd --device cuda --out "$work/wsvd-np$np.h5" --overwrite
    timed "profile-pca-np$np" mpirun -np "$np" --bind-to none "$kvsvd" profile \
      --model "$ckpt" --method activation_pca --key-space post_rope \
      --calib-data "$root/.carry/bench/sotu.txt" --calib-tokens 131072 --seq-len 2048 \
      --device cuda --dtype bfloat16 --out "$work/pca-np$np.h5" --overwrite
  done
  python3 - "$work" "$gpus" <<'EOF' | tee -a "$out/results.jsonl"
import json, sys, h5py, numpy as np
work, n = sys.argv[1], sys.argv[2]
a = json.load(open(f"{work}/eval-np1/summary.json"))["results"]
b = json.load(open(f"{work}/eval-np{n}/summary.json"))["results"]
skip = ("seconds", "tokens_per_s", "peak_memory")
diff = [(r["label"], k) for r, s in zip(a, b) for k in r
        if not any(x in k for x in skip) and r[k] != s[k]]
def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out
store_diff = []
for name in ("pca", "wsvd"):
    x, y = datasets(f"{work}/{name}-np1.h5"), datasets(f"{work}/{name}-np{n}.h5")
    store_diff += [f"{name}:{k}" for k in x if k not in y or not np.array_equal(x[k], y[k])]
print(json.dumps({"bench": "scale", "evaluate_results_identical": not diff, "differences": diff[:10],
                  "store_datasets_identical": not store_diff, "store_differences": store_diff[:10]}))
EOF
}

phases=("$@")
[ ${#phases[@]} -gt 0 ] || phases=(all)
for p in "${phases[@]}"; do
  case "$p" in
    all) phase_build; phase_make; phase_profile; phase_prefill; phase_decode ;;
    build|make|profile|prefill|decode|scale) "phase_$p" ;;
    table) decode_table ;;
    *) echo "gpu-bench: unknown phase '$p' (build make profile prefill decode scale table all)" >&2; exit 2 ;;
  esac
done
