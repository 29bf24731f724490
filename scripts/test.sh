#!/usr/bin/env bash
# Installs dependencies, fetches the npm-shipped test inputs, builds, and runs the whole test suite.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/fetch-assets.sh"
"$root/scripts/build.sh"
build=${BUILD_DIR:-$root/build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
start=$(date +%s)
ctest --test-dir "$build" --output-on-failure -j "${CTEST_JOBS:-2}" "$@"
echo "tests: done in $(( $(date +%s) - start )) s"
# Then the fast unit tests and the fuzz targets again under ASan + UBSan + _GLIBCXX_ASSERTIONS
# (one extra clang build dir, build-asan; see the script for what it leaves out).
# KVSVD_SKIP_SANITIZE=1 skips it.
"$root/scripts/test-sanitize.sh"
