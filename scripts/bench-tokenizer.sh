#!/usr/bin/env bash
# Single-thread encode throughput of the Llama-3 tokenizer over the State of the Union corpus
# (all ~/.cache/kvsvd/sotu/data/*.txt, about 10 MB), via `kvsvd tokenize --bench`. Not a test.
# Usage: scripts/bench-tokenizer.sh [path/to/kvsvd] [passes]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/kvsvd}
passes=${2:-3}
cache=${KVSVD_CACHE:-$HOME/.cache/kvsvd}
tok=$cache/tokenizer-llama3/models/tokenizer.json
[ -x "$bin" ] || { echo "bench-tokenizer: no kvsvd binary at $bin" >&2; exit 1; }
[ -f "$tok" ] && ls "$cache"/sotu/data/*.txt >/dev/null 2>&1 || bash "$here/scripts/fetch-assets.sh"
corpus=$(mktemp --suffix=.txt)
trap 'rm -f "$corpus"' EXIT
cat "$cache"/sotu/data/*.txt > "$corpus"
"$bin" tokenize --tokenizer "$tok" --file "$corpus" --bench --passes "$passes"
