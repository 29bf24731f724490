# jobs/stage-step.sh: the shared body of jobs/*.sbatch (sourced by them, never submitted).
# It checks the allocation, turns SLURM_* into explicit kvsvd flags, launches the stage as one
# job step, forwards SIGTERM to it and requeues the job when the stage was stopped early.
#
# Environment read here (all optional):
#   KVSVD_BIN          the kvsvd binary (default: `kvsvd` on PATH)
#   KVSVD_LAUNCHER     srun (default) | mpirun | none (run the binary directly, one task)
#   KVSVD_SRUN_MPI     srun --mpi plugin (default pmix)
#   KVSVD_MPIRUN       mpirun program (default mpirun); KVSVD_MPIRUN_ARGS extra mpirun arguments
#   KVSVD_DEVICE       --device given to the stage (default: cuda when the allocation holds GPUs
#                      (SLURM_GPUS_PER_TASK / SLURM_STEP_GPUS / SLURM_JOB_GPUS), else cpu;
#                      "none": pass no --device)
#   KVSVD_RESUME       1: pass --resume even on the first start (it is passed on every restart,
#                      i.e. when SLURM_RESTART_COUNT > 0)
#   KVSVD_MAX_REQUEUES requeue a job stopped by SIGTERM at most this many times (default 3)
# shellcheck shell=bash

kvsvd_die() { echo "$KVSVD_JOB_NAME: error: $*" >&2; exit 2; }

# kvsvd_begin NAME: refuses to run outside an allocation; finds the binary.
kvsvd_begin() {
  KVSVD_JOB_NAME=$1
  [ -n "${SLURM_JOB_ID:-}" ] ||
    kvsvd_die "not inside a Slurm allocation (SLURM_JOB_ID is unset): submit it with sbatch"
  KVSVD_BIN=${KVSVD_BIN:-$(command -v kvsvd || true)}
  [ -n "$KVSVD_BIN" ] && [ -x "$KVSVD_BIN" ] ||
    kvsvd_die "no kvsvd binary: set KVSVD_BIN or put kvsvd on PATH (got '${KVSVD_BIN:-}')"
  echo "$KVSVD_JOB_NAME: job ${SLURM_JOB_ID}${SLURM_ARRAY_TASK_ID:+ (array ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID})}" \
       "on ${SLURMD_NODENAME:-?}, tasks ${SLURM_NTASKS:-1}, restart ${SLURM_RESTART_COUNT:-0}, $(date -u +%FT%TZ)"
}

# kvsvd_manifest_args SELECTOR...: fills the array KVSVD_ARGS from `kvsvd sweep args`.
kvsvd_manifest_args() {
  [ -f "$KVSVD_MANIFEST" ] || kvsvd_die "KVSVD_MANIFEST '$KVSVD_MANIFEST' does not exist"
  local out
  out=$("$KVSVD_BIN" sweep args "$KVSVD_MANIFEST" "$@") ||
    kvsvd_die "cannot read job arguments ($*) from $KVSVD_MANIFEST"
  mapfile -t KVSVD_ARGS <<<"$out"
}

# kvsvd_has_flag FLAG ARGS...: whether ARGS already holds FLAG (as "FLAG" or "FLAG=...").
kvsvd_has_flag() {
  local f=$1; shift
  local a
  for a in "$@"; do
    if [ "$a" = "$f" ] || [ "${a%%=*}" = "$f" ]; then return 0; fi
  done
  return 1
}

# kvsvd_run_stage STAGE RESUMABLE ARGS...: runs `kvsvd STAGE ARGS` under the launcher and exits
# with its status. RESUMABLE=1 adds --resume on a restart.
kvsvd_run_stage() {
  local stage=$1 resumable=$2; shift 2
  local args=("$@")
  local ntasks=${SLURM_NTASKS:-1}
  local gpt=${SLURM_GPUS_PER_TASK:-}
  local device=${KVSVD_DEVICE:-}
  if [ -z "$device" ]; then
    if [ -n "$gpt" ] || [ -n "${SLURM_STEP_GPUS:-}" ] || [ -n "${SLURM_JOB_GPUS:-}" ]; then
      device=cuda
    else
      device=cpu
    fi
  fi
  if [ "$device" != none ] && ! kvsvd_has_flag --device "${args[@]}"; then
    args+=(--device "$device")
  fi
  if [ "$resumable" = 1 ] && { [ "${SLURM_RESTART_COUNT:-0}" -gt 0 ] || [ "${KVSVD_RESUME:-0}" = 1 ]; } &&
     ! kvsvd_has_flag --resume "${args[@]}"; then
    args+=(--resume)
  fi

  # Stages write into the folder of --out but do not create it (a typo should not spawn trees).
  local i
  for ((i = 0; i + 1 < ${#args[@]}; i++)); do
    if [ "${args[$i]}" = --out ]; then mkdir -p "$(dirname "${args[$((i + 1))]}")"; fi
  done

  local launcher=${KVSVD_LAUNCHER:-srun} cmd=()
  case "$launcher" in
    srun)
      cmd=(srun --mpi="${KVSVD_SRUN_MPI:-pmix}" --ntasks="$ntasks" --kill-on-bad-exit=1)
      if [ -n "$gpt" ]; then cmd+=(--gpus-per-task="$gpt"); fi
      ;;
    mpirun)
      cmd=("${KVSVD_MPIRUN:-mpirun}" -np "$ntasks")
      if [ "$(id -u)" -eq 0 ]; then cmd+=(--allow-run-as-root); fi
      # shellcheck disable=SC2206  # extra arguments are meant to split
      if [ -n "${KVSVD_MPIRUN_ARGS:-}" ]; then cmd+=(${KVSVD_MPIRUN_ARGS}); fi
      ;;
    none)
      [ "$ntasks" -eq 1 ] || kvsvd_die "KVSVD_LAUNCHER=none runs one process, but SLURM_NTASKS=$ntasks"
      ;;
    *) kvsvd_die "KVSVD_LAUNCHER='$launcher': use srun, mpirun or none" ;;
  esac
  cmd+=("$KVSVD_BIN" "$stage" "${args[@]}")
  printf '%s: running:' "$KVSVD_JOB_NAME"; printf ' %q' "${cmd[@]}"; printf '\n'

  # The stage runs in the background so that this shell can take SIGTERM (sbatch
  # --signal=B:TERM@..., scancel --signal=TERM --batch, preemption, scontrol requeue) and forward
  # it: srun hands it to every task, mpirun to every rank, and the stage stops cleanly.
  KVSVD_TERMS=0
  KVSVD_STEP_PID=
  trap 'KVSVD_TERMS=$((KVSVD_TERMS + 1)); echo "$KVSVD_JOB_NAME: SIGTERM: stopping the stage" >&2;
        [ -n "$KVSVD_STEP_PID" ] && kill -TERM "$KVSVD_STEP_PID" 2>/dev/null || true' TERM
  "${cmd[@]}" &
  KVSVD_STEP_PID=$!
  local rc=0 seen
  while :; do
    seen=$KVSVD_TERMS
    rc=0
    wait "$KVSVD_STEP_PID" || rc=$?
    # A trapped signal interrupts `wait` (status > 128) while the step still runs: wait again.
    if [ "$KVSVD_TERMS" -ne "$seen" ] && [ "$rc" -gt 128 ] && kill -0 "$KVSVD_STEP_PID" 2>/dev/null; then
      continue
    fi
    break
  done
  trap - TERM
  if [ "$rc" -eq 0 ]; then
    echo "$KVSVD_JOB_NAME: done $(date -u +%FT%TZ)"
    exit 0
  fi
  if [ "$KVSVD_TERMS" -gt 0 ]; then
    # Stopped on request: put the job back in the queue (it restarts with --resume), unless
    # whoever sent the signal already requeued or cancelled it. Exit non-zero either way, so that
    # nothing that depends on this job (afterok) starts from a partial result.
    if [ "${SLURM_RESTART_COUNT:-0}" -lt "${KVSVD_MAX_REQUEUES:-3}" ]; then
      echo "$KVSVD_JOB_NAME: stage stopped (exit $rc): requeueing job $SLURM_JOB_ID" >&2
      scontrol requeue "$SLURM_JOB_ID" 2>&1 | sed "s/^/$KVSVD_JOB_NAME: scontrol: /" >&2 || true
    else
      echo "$KVSVD_JOB_NAME: stage stopped (exit $rc) after ${SLURM_RESTART_COUNT} restarts: not requeueing" >&2
    fi
  else
    echo "$KVSVD_JOB_NAME: stage failed (exit $rc)" >&2
  fi
  exit "$rc"
}
