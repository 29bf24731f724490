# Shared by tests/e2e/fault-*-test.sh (sourced, not a test itself): MPI environment, a scratch
# folder removed with every process that used it, failure counting and timing helpers.
#   source fault-helpers.sh NAME      sets: work (scratch folder), mounted (a tmpfs to unmount),
#                                     mpirun (launcher array), failures, t_start
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
# One thread per rank: ranks share 2 cores in CI; more threads only slow every rank down.
export OMP_NUM_THREADS=1
mpirun=(mpirun --oversubscribe --allow-run-as-root --bind-to none -x OMP_NUM_THREADS)
work=$(mktemp -d "/tmp/kvsvd-${1:?fault-helpers.sh needs a name}.XXXXXX")
mounted=
cleanup() {
  local p
  for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
  for p in $(pgrep -f -- "$work/"); do kill -9 "$p" 2>/dev/null; done  # this test's ranks (--out under $work)
  [ -n "$mounted" ] && umount "$mounted" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
failures=0
t_start=$(date +%s)
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
outcome() { echo "outcome: $*"; }

# rank_pid PATTERN RANK: the pid of MPI rank RANK among the processes whose command line holds
# PATTERN (OpenMPI puts OMPI_COMM_WORLD_RANK in each rank's environment; mpirun has none).
rank_pid() {
  local p
  for p in $(pgrep -f -- "$1"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then
      echo "$p"; return 0
    fi
  done
  return 1
}
