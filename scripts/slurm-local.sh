#!/usr/bin/env bash
# Single-node Slurm for tests and laptops: munge + slurmctld + slurmd from Debian's packages, started
# by hand (no systemd), configured under a state dir, and stopped by the PIDs it recorded.
#
#   scripts/slurm-local.sh up      install if missing (apt-get), write the config, start, wait idle
#   scripts/slurm-local.sh status  the recorded daemons and sinfo
#   scripts/slurm-local.sh down    stop exactly the daemons `up` started (never by name)
#
# Environment: KVSVD_SLURM_STATE  state dir (default /tmp/kvsvd-slurm): slurm.conf, spool, logs, pids
#              KVSVD_SLURM_PORT   slurmctld port (default 6817; slurmd uses the next one)
# Clients need the config: `export SLURM_CONF=$KVSVD_SLURM_STATE/slurm.conf` (`up` prints it).
# Needs root (or sudo) for apt-get and to run slurmd. A munged already answering is reused and left
# running; one started here is stopped by `down`.
set -euo pipefail
state=${KVSVD_SLURM_STATE:-/tmp/kvsvd-slurm}
port=${KVSVD_SLURM_PORT:-6817}
conf=$state/slurm.conf
pids=$state/pids
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

log() { echo "slurm-local: $*" >&2; }
die() { log "error: $*"; exit 1; }
# Alive and not a zombie.
alive() { [ -n "$1" ] && [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v Z || true)" ]; }
# The pid still runs the program we started (guards against a recycled pid).
is_ours() { alive "$1" && [ "$(ps -o comm= -p "$1" 2>/dev/null)" = "$2" ]; }

# wait_pidfile FILE: prints the pid once FILE names a live process.
wait_pidfile() {
  local _
  for _ in $(seq 100); do
    if [ -s "$1" ] && alive "$(cat "$1")"; then cat "$1"; return 0; fi
    sleep 0.1
  done
  return 1
}

install_packages() {
  local missing=() p
  for p in slurmctld slurmd slurm-client munge; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >"$state/apt.log" 2>&1 || {
    $SUDO apt-get update -qq >>"$state/apt.log" 2>&1 &&
      $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$state/apt.log" 2>&1
  } || { tail -n 20 "$state/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

write_config() {
  local node nodeline
  node=$(hostname -s)
  # `slurmd -C` reports what the machine has; never claim more (memory included).
  nodeline=$(slurmd -C | head -n1)
  [[ $nodeline == NodeName=* ]] || die "slurmd -C printed '$nodeline'"
  mkdir -p "$state/ctld" "$state/d" "$state/log"
  cat >"$conf" <<CONF
# Written by scripts/slurm-local.sh: one node, no accounting, no systemd.
ClusterName=kvsvd-local
SlurmctldHost=${node}(127.0.0.1)
SlurmctldPort=${port}
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
EnforcePartLimits=ALL
DependencyParameters=kill_invalid_depend
JobRequeue=1
KillWait=30
MinJobAge=300
MailProg=/bin/true
StateSaveLocation=${state}/ctld
SlurmdSpoolDir=${state}/d
SlurmctldPidFile=${state}/slurmctld.pid
SlurmdPidFile=${state}/slurmd.pid
SlurmctldLogFile=${state}/log/slurmctld.log
SlurmdLogFile=${state}/log/slurmd.log
${nodeline} NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    log "munged already answers: reusing it"
    echo ""
    return 0
  fi
  if [ ! -s /etc/munge/munge.key ]; then
    $SUDO mungekey --create --keyfile=/etc/munge/munge.key
    $SUDO chown munge:munge /etc/munge/munge.key
    $SUDO chmod 0400 /etc/munge/munge.key
  fi
  $SUDO install -d -o munge -g munge -m 0755 /run/munge
  $SUDO rm -f /run/munge/munged.pid
  mkdir -p "$state/log"
  $SUDO runuser -u munge -- /usr/sbin/munged </dev/null >"$state/log/munged-start.log" 2>&1 ||
    { cat "$state/log/munged-start.log" >&2; die "munged failed to start"; }
  local pid
  pid=$(wait_pidfile /run/munge/munged.pid) || die "munged did not start"
  munge -n | unmunge >/dev/null || die "munge credential round trip failed"
  echo "$pid"
}

cmd_up() {
  if [ -s "$pids" ]; then
    local m c d
    read -r m c d <"$pids" || true
    if is_ours "${c:-}" slurmctld || is_ours "${d:-}" slurmd; then
      log "already up (pids in $pids)"
      echo "export SLURM_CONF=$conf"
      return 0
    fi
  fi
  [ -z "$SUDO" ] || sudo -n true 2>/dev/null || die "needs root or password-less sudo"
  mkdir -p "$state"
  install_packages
  # A fresh cluster each time: no jobs left over from an earlier `up`.
  rm -rf "$state/ctld" "$state/d" "$state/log" "$state"/*.pid "$pids"
  write_config
  local munged_pid slurmctld_pid slurmd_pid
  munged_pid=$(start_munge)
  echo "${munged_pid:--} - -" >"$pids"
  $SUDO slurmctld -f "$conf"
  slurmctld_pid=$(wait_pidfile "$state/slurmctld.pid") ||
    { tail -n 30 "$state/log/slurmctld.log" >&2 || true; die "slurmctld did not start"; }
  echo "${munged_pid:--} $slurmctld_pid -" >"$pids"
  $SUDO slurmd -f "$conf"
  slurmd_pid=$(wait_pidfile "$state/slurmd.pid") ||
    { tail -n 30 "$state/log/slurmd.log" >&2 || true; die "slurmd did not start"; }
  echo "${munged_pid:--} $slurmctld_pid $slurmd_pid" >"$pids"
  export SLURM_CONF=$conf
  local node st= _
  node=$(hostname -s)
  for _ in $(seq 120); do
    st=$(sinfo -h -N -n "$node" -o %T 2>/dev/null || true)
    [ "$st" = idle ] && break
    sleep 0.25
  done
  [ "$st" = idle ] || { tail -n 30 "$state"/log/*.log >&2 || true; die "node $node is '$st', not idle"; }
  log "up: munged=${munged_pid:-reused} slurmctld=$slurmctld_pid slurmd=$slurmd_pid, node $node idle"
  echo "export SLURM_CONF=$conf"
}

# stop PID NAME: TERM, wait up to 10 s, then KILL; only if PID still runs NAME.
stop() {
  local pid=$1 name=$2 _
  [ -n "$pid" ] && [ "$pid" != - ] || return 0
  if ! is_ours "$pid" "$name"; then return 0; fi
  $SUDO kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do alive "$pid" || return 0; sleep 0.1; done
  log "$name ($pid) ignored SIGTERM for 10 s: SIGKILL"
  $SUDO kill -KILL "$pid" 2>/dev/null || true
}

cmd_down() {
  [ -s "$pids" ] || { log "nothing recorded in $pids: nothing to stop"; return 0; }
  local m c d
  read -r m c d <"$pids" || true
  stop "${d:-}" slurmd
  stop "${c:-}" slurmctld
  stop "${m:-}" munged
  rm -f "$pids"
  log "down"
}

cmd_status() {
  [ -s "$pids" ] || { echo "slurm-local: down (no $pids)"; return 3; }
  local m c d up=0
  read -r m c d <"$pids" || true
  echo "munged:    ${m:--} $( [ "${m:--}" = - ] && echo "(not started here)" || { is_ours "$m" munged && echo running || echo stopped; })"
  echo "slurmctld: ${c:--} $(is_ours "${c:-}" slurmctld && echo running || echo stopped)"
  echo "slurmd:    ${d:--} $(is_ours "${d:-}" slurmd && echo running || echo stopped)"
  is_ours "${c:-}" slurmctld && is_ours "${d:-}" slurmd && up=1
  if [ "$up" = 1 ]; then SLURM_CONF=$conf sinfo; echo "export SLURM_CONF=$conf"; return 0; fi
  return 3
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status   (state: \$KVSVD_SLURM_STATE, default /tmp/kvsvd-slurm)" >&2; exit 2 ;;
esac
