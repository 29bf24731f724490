#!/usr/bin/env bash
# Configures and builds kvsvd into ${BUILD_DIR:-build}. Extra arguments go to cmake.
# On the GPU box the LibTorch prefix comes from Python's torch (see README).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
extra=()
if python3 -c 'import torch' >/dev/null 2>&1; then
  extra+=("-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')")
fi
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# ccache, where installed, shares compiled units between build folders and git worktrees.
if command -v ccache >/dev/null && [ -z "${KVSVD_NO_CCACHE:-}" ]; then
  extra+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} "${extra[@]}" "$@"
fi
start=$(date +%s)
cmake --build "$build" -j "$jobs"
echo "build: done in $(( $(date +%s) - start )) s ($build)"
