#!/usr/bin/env bash
# Unpacks the Debian development files that the GPU box's image lacks into .carry/ (git-ignored;
# name .carry in the device call's carry list). Run here, where apt works:
#   .carry/pcre2    libpcre2-dev + libpcre2-8-0 (pcre2.h: the tokenizer's regex engine)
#   .carry/openssl  libssl-dev + libssl3 (openssl/evp.h: SHA-256 of the fingerprints); the
#                   multiarch configuration headers are copied beside the others so that
#                   OPENSSL_ROOT_DIR alone finds a complete include folder.
# scripts/gpu-cmake-args.sh passes them to CMake only where the box lacks the system header.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
arch=x86_64-linux-gnu

unpack() {  # unpack NAME HEADER PACKAGE...
  local name=$1 header=$2; shift 2
  local dest=$root/.carry/$name
  if [ -f "$dest/usr/include/$header" ]; then
    echo "carry-gpu-deps: $dest already holds $header"
    return 0
  fi
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download "$@" >/dev/null)
  rm -rf "$dest"; mkdir -p "$dest"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$dest"; done
  echo "carry-gpu-deps: $(ls "$tmp"/*.deb | xargs -n1 basename | tr '\n' ' ')-> $dest"
  rm -rf "$tmp"
}

unpack pcre2 pcre2.h libpcre2-dev libpcre2-8-0
unpack openssl openssl/evp.h libssl-dev libssl3
# Only the headers and shared libraries travel (the device call carries at most 64 MiB).
find "$root/.carry" -name '*.a' -delete
rm -rf "$root/.carry/openssl/usr/lib/x86_64-linux-gnu/engines-3" "$root/.carry/openssl/usr/share"
ossl=$root/.carry/openssl/usr/include
if [ -d "$ossl/$arch/openssl" ]; then cp -n "$ossl/$arch/openssl/"*.h "$ossl/openssl/"; fi
for h in pcre2/usr/include/pcre2.h openssl/usr/include/openssl/evp.h \
         openssl/usr/include/openssl/configuration.h; do
  test -f "$root/.carry/$h" || { echo "carry-gpu-deps: .carry/$h missing after unpacking" >&2; exit 1; }
done
