#!/usr/bin/env bash
# GPU box: builds the CUDA variant (LibTorch from Python's torch, NCCL when found) and runs the
# whole test suite, then the GPU parity tests in fp32 and bf16, in one call. Writes logs to $OUT.
# PCRE2's (and OpenSSL's) headers are missing there: scripts/carry-gpu-deps.sh unpacks Debian's
# packages into .carry beforehand (name .carry in the device call's carry list).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-/tmp/kvsvd-gpu-out}
build=${BUILD_DIR:-$root/build-gpu}
mkdir -p "$out"
cd "$root"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
} | tee "$out/env.txt"
t0=$(date +%s)
source "$root/scripts/gpu-cmake-args.sh"
cmake -S "$root" -B "$build" "${gpu_cmake_args[@]}" 2>&1 | tail -n 20 | tee "$out/configure.log"
if ! cmake --build "$build" -j "$(nproc)" -- -k 0 > "$out/build.log" 2>&1; then
  grep -E "error|FAILED" -A3 "$out/build.log" | head -n 80
  exit 1
fi
echo "build: $(( $(date +%s) - t0 )) s" | tee -a "$out/env.txt"
t1=$(date +%s)
set +e
ctest --test-dir "$build" --output-on-failure -j 8 2>&1 | tee "$out/ctest-cpu.log"
rc_cpu=${PIPESTATUS[0]}
echo "test suite (cpu paths): $(( $(date +%s) - t1 )) s, rc $rc_cpu" | tee -a "$out/env.txt"
for dt in float32 bfloat16; do
  KVSVD_TEST_DEVICE=cuda KVSVD_TEST_DTYPE=$dt "$build/tests/test-core-model" "[#hf-parity-test]" --filenames-as-tags 2>&1 | tee "$out/parity-cuda-$dt.log"
done
set -e
exit $rc_cpu
