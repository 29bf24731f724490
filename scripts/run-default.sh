#!/usr/bin/env bash
# The main job on the embedded default: installs dependencies, builds, then runs
# profile (2 MPI ranks) -> evaluate (2 MPI ranks) -> report on assets/models/sotu-llama-tiny and
# the held-out SOTU addresses, and prints the report table.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/install-deps.sh"
"$root/scripts/fetch-assets.sh"
"$root/scripts/build.sh"
build=${BUILD_DIR:-$root/build}
kvsvd=$build/stages/kvsvd
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
np=${NP:-2}
run=${RUN:-$root/results/runs/default}
model=$root/assets/models/sotu-llama-tiny
mkdir -p "$run"
cd "$root"
echo "== profile (mpirun -np $np)"
mpirun -np "$np" --bind-to none "$kvsvd" profile --model "$model" \
  --config config/profiles/seed-three-level.yaml --out "$run/store.h5" --overwrite
"$kvsvd" inspect "$run/store.h5"
echo "== evaluate (mpirun -np $np)"
mpirun -np "$np" --bind-to none "$kvsvd" evaluate --config config/eval/default.yaml \
  --model "$model" --store "$run/store.h5" --out "$run/eval"
echo "== report"
"$kvsvd" report "$run/eval" --out "$run/report" --target-memory-reduction 2 --max-quality-loss 0.10
cat "$run/report/report.md"
