#!/usr/bin/env bash
# GPU box (or any machine with Python tokenizers): kvsvd's tokenizer and Hugging Face tokenizers,
# single thread, on the same text in the same run. $1 = folder with tokenizer.json and sotu.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$root/.carry/bench}
build=${BUILD_DIR:-$root/build-gpu}
cxx=()
[ -x /usr/bin/g++ ] && cxx=(-DCMAKE_CXX_COMPILER=/usr/bin/g++ -DCMAKE_C_COMPILER=/usr/bin/gcc)
pcre_lib=$(ls /usr/lib/x86_64-linux-gnu/libpcre2-8.so.0 2>/dev/null || true)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cxx[@]}" -DKVSVD_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')" \
  -DKVSVD_PCRE2_ROOT="$root/.carry/pcre2/usr" ${pcre_lib:+-DPCRE2_LIBRARY=$pcre_lib} > /dev/null
cmake --build "$build" -j "$(nproc)" --target kvsvd > /dev/null
echo "== kvsvd (C++, one thread)"
"$build/stages/kvsvd" tokenize --tokenizer "$dir/tokenizer.json" --file "$dir/sotu.txt" --bench --passes 3
echo "== Hugging Face tokenizers (Python, RAYON_NUM_THREADS=1)"
RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false python3 - "$dir" <<'PY'
import sys, time, tokenizers
d = sys.argv[1]
tok = tokenizers.Tokenizer.from_file(d + "/tokenizer.json")
text = open(d + "/sotu.txt", encoding="utf-8").read()
n = len(text.encode("utf-8"))
best = 0.0
for _ in range(3):
    t0 = time.perf_counter(); ids = tok.encode(text, add_special_tokens=False).ids
    best = max(best, n / (time.perf_counter() - t0) / 1e6)
print(f'{{"hf_tokenizers": "{tokenizers.__version__}", "bytes": {n}, "tokens": {len(ids)}, "best_mb_per_s": {best:.2f}}}')
PY
