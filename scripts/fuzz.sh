#!/usr/bin/env bash
# Runs one libFuzzer target for SECONDS: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]
# TARGET is a name from tests/fuzz (safetensors, safetensors-index, llama-config, dataset,
# profile-store, tokenizer-encode, tokenizer-json, yaml-config) or "list". Builds the target in
# ${SANITIZE_BUILD_DIR:-build-asan} (clang, ASan + UBSan + libFuzzer; the same dir as
# scripts/test-sanitize.sh) when needed. New inputs go to build-asan/fuzz-work/TARGET, crashes
# to build-asan/fuzz-artifacts/; the seeds in tests/fuzz/corpus are read, never written.
# A crash found: minimise it (fuzz-TARGET -minimize_crash=1 -runs=10000 FILE), fix the code,
# commit the input under tests/fuzz/regressions/TARGET/ and add a unit test.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
targets=(safetensors safetensors-index llama-config dataset profile-store tokenizer-encode
         tokenizer-json yaml-config)
if [ $# -lt 1 ] || [ "$1" = "list" ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  echo "usage: $0 TARGET SECONDS [libFuzzer flags...]; targets: ${targets[*]}"
  [ $# -ge 1 ] && exit 0 || exit 2
fi
target=$1
seconds=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
ok=0
for t in "${targets[@]}"; do [ "$t" = "$target" ] && ok=1; done
if [ $ok -ne 1 ]; then
  echo "fuzz.sh: unknown target '$target' (targets: ${targets[*]})" >&2
  exit 2
fi
build=${SANITIZE_BUILD_DIR:-$root/build-asan}
if [ ! -f "$build/CMakeCache.txt" ] || ! grep -q "^KVSVD_FUZZ:BOOL=ON" "$build/CMakeCache.txt"; then
  cc=$(command -v clang-14 || command -v clang)
  cxx=$(command -v clang++-14 || command -v clang++)
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S "$root" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    "-DCMAKE_C_FLAGS_RELEASE=-O1 -gline-tables-only" "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -gline-tables-only" \
    -DKVSVD_SANITIZE=address,undefined -DKVSVD_GLIBCXX_ASSERTIONS=ON -DKVSVD_FUZZ=ON >/dev/null
fi
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target "fuzz-$target"
work="$build/fuzz-work/$target"
mkdir -p "$work" "$build/fuzz-artifacts"
inputs=("$root/tests/fuzz/corpus/$target")
[ -d "$root/tests/fuzz/regressions/$target" ] && inputs+=("$root/tests/fuzz/regressions/$target")
flags=()
if [ -f "$root/tests/fuzz/flags/$target.txt" ]; then read -r -a flags < "$root/tests/fuzz/flags/$target.txt"; fi
symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
if [ -n "$symbolizer" ]; then export ASAN_SYMBOLIZER_PATH=$symbolizer; fi
leaks=1
for f in "${flags[@]}"; do [ "$f" = "-detect_leaks=0" ] && leaks=0; done
# Fork-mode children and the exit-time leak check read ASAN_OPTIONS, not libFuzzer's flags.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=$leaks:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
exec "$build/tests/fuzz/fuzz-$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$target-" "${flags[@]}" "$@" \
  "$work" "${inputs[@]}"
