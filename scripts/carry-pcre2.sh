#!/usr/bin/env bash
# Unpacks Debian's PCRE2 development files (pcre2.h, the libpcre2-8 library) into .carry/pcre2
# for the GPU box, whose image lacks pcre2.h; name .carry in the device call's carry list. Run here
# (it needs apt); .carry is git-ignored. The build there finds them through
# -DKVSVD_PCRE2_ROOT=.carry/pcre2/usr (scripts/gpu-test.sh, scripts/gpu-bench.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/.carry/pcre2
if [ -f "$dest/usr/include/pcre2.h" ]; then
  echo "carry-pcre2: $dest already holds pcre2.h"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download libpcre2-dev libpcre2-8-0 >/dev/null)
mkdir -p "$dest"
for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dest"; done
test -f "$dest/usr/include/pcre2.h" || { echo "carry-pcre2: pcre2.h missing after unpacking" >&2; exit 1; }
echo "carry-pcre2: $(ls "$tmp"/*.deb | xargs -n1 basename | tr '\n' ' ')-> $dest"
