#!/usr/bin/env bash
# One GPU-box call that produces every upstream reference with the real libraries:
#   tests/data/hf-ref/           transformers logits/NLL/greedy of an unusually shaped Llama
#   tests/data/tokenizer/        HF tokenizers ids of >= 300 strings with the Llama-3 tokenizer
#   assets/models/sotu-llama-tiny/ + tests/data/bundled-ref/   the trained embedded default
# Inputs: a corpus cache (scripts/fetch-assets.sh layout) at $1 (default .carry/corpus).
# Results: $OUT/assets.tar split into 15 MB parts (the device tool returns files <= 16 MiB).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=${1:-$root/.carry/corpus}
out=${OUT:-/tmp/kvsvd-out}
stage=$(mktemp -d)
export PYTHONUNBUFFERED=1
cd "$root"
python3 -c 'import torch, transformers, tokenizers; print("torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__, "cuda", torch.cuda.is_available())'
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
mkdir -p "$out"
python3 scripts/make-reference.py --out "$stage/tests/data/hf-ref" 2>&1 | tee "$out/make-reference.log"
python3 scripts/make-tokenizer-reference.py --tokenizer "$corpus/tokenizer-llama3/models/tokenizer.json" \
  --corpus "$corpus" --out "$stage/tests/data/tokenizer/llama3-reference.json" --bench 2>&1 | tee "$out/tokenizer-reference.log"
python3 scripts/train-tiny-llama.py --corpus "$corpus" --out "$stage/assets/models/sotu-llama-tiny" \
  --ref-out "$stage/tests/data/bundled-ref" --max-seconds "${TRAIN_SECONDS:-240}" 2>&1 | tee "$out/train.log"
(cd "$stage" && tar cf "$out/assets.tar" .)
(cd "$out" && split -b 15M -d assets.tar assets.tar.part && rm assets.tar)
ls -la "$out"
