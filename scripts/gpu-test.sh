#!/usr/bin/env bash
# GPU box: builds the CUDA variant (LibTorch from Python's torch, NCCL when found) and runs the
# whole test suite, then the GPU parity tests in fp32 and bf16, in one call. Writes logs to $OUT.
# PCRE2's header is missing there: scripts/carry-pcre2.sh unpacks Debian's libpcre2-dev into
# .carry/pcre2 beforehand (name .carry in the device call's carry list).
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
pcre_lib=$(ls /usr/lib/x86_64-linux-gnu/libpcre2-8.so.0 2>/dev/null || true)
t0=$(date +%s)
# The distribution's g++ (the one Catch2 v3's static library was built with): a test binary mixing
# /opt/gcc's libstdc++ with it crashed whenever an exception was thrown.
cxx=()
[ -x /usr/bin/g++ ] && cxx=(-DCMAKE_CXX_COMPILER=/usr/bin/g++ -DCMAKE_C_COMPILER=/usr/bin/gcc)
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cxx[@]}" \
  -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')" \
  -DKVSVD_PCRE2_ROOT="$root/.carry/pcre2/usr" ${pcre_lib:+-DPCRE2_LIBRARY=$pcre_lib} \
  -DTORCH_CUDA_ARCH_LIST=9.0 2>&1 | tail -n 20 | tee "$out/configure.log"
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
