#!/usr/bin/env bash
# A real SLURM cluster on this one machine, for the cluster-profile test: one controller and
# SLURM_CI_NODES compute nodes (default 2: nwt-1, nwt-2), each a slurmd of its own on its own
# port with an equal share of the cores and memory, so that jobs visibly spread over nodes.
#   .ci/slurm.sh up     start munged, slurmctld and the slurmds; wait until every node is idle
#   .ci/slurm.sh down   stop them (slurmd first, munged last); safe to call twice
# Needs root and Debian's slurm-wlm + munge (.ci/install-services.sh). No systemd, no slurmdbd:
# the profile must use `slurm-status-command: squeue` (hence MinJobAge below).
# Facts behind each setting: shared/notes/slurm.md.
set -euo pipefail

STATE=${SLURM_CI_STATE:-/tmp/nowrongturns-slurm}
NODES=${SLURM_CI_NODES:-2}
CONF=/etc/slurm/slurm.conf

up() {
    mkdir -p "$STATE"/{spool/ctld,spool/d,log,run} /etc/slurm /etc/munge /run/munge /var/lib/munge /var/log/munge
    chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    if ! pgrep -x munged >/dev/null; then
        su -s /bin/sh munge -c "/usr/sbin/munged --pid-file=/run/munge/munged.pid"
    fi

    local host cpus mem
    host=$(hostname -s)
    cpus=$(( $(nproc) / NODES )); [ "$cpus" -ge 1 ] || cpus=1
    mem=$(awk -v n="$NODES" '/MemTotal/ {printf "%d", $2 / 1024 * 0.85 / n}' /proc/meminfo)
    cat >"$CONF" <<EOF
# Written by .ci/slurm.sh: one node, this machine.
ClusterName=nowrongturns-ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d-%n
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd-%n.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd-%n.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$STATE/log/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
# Finished jobs stay visible to squeue this long (the profile's status command).
MinJobAge=300
ReturnToService=2
# Several slurmds on one host: one port each (Debian's slurmd takes -N NODENAME).
NodeName=nwt-[1-$NODES] NodeHostname=${host} NodeAddr=127.0.0.1 Port=17001-$((17000 + NODES)) CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=main Nodes=nwt-[1-$NODES] Default=YES MaxTime=INFINITE State=UP
EOF
    pgrep -x slurmctld >/dev/null || slurmctld -i
    if ! pgrep -x slurmd >/dev/null; then
        for i in $(seq "$NODES"); do slurmd -N "nwt-$i"; done
    fi
    for _ in $(seq 60); do
        if [ "$(sinfo -h -N -o '%T' 2>/dev/null | grep -cx idle)" = "$NODES" ]; then
            sinfo
            return 0
        fi
        sleep 0.5
    done
    echo "slurm.sh: the nodes did not all become idle" >&2
    sinfo >&2 || true
    tail -n 20 "$STATE"/log/*.log >&2 || true
    return 1
}

stop_pidfile() {
    # Signal by PID file, then wait until no such process is left (SIGKILL after 10 s), so that
    # an `up` right after a `down` starts fresh daemons instead of finding dying ones.
    local pidfile=$1 name=$2
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    pkill -x "$name" 2>/dev/null || true
    for _ in $(seq 100); do pgrep -x "$name" >/dev/null || { rm -f "$pidfile"; return 0; }; sleep 0.1; done
    pkill -9 -x "$name" 2>/dev/null || true
    rm -f "$pidfile"
}

down() {
    for pidfile in "$STATE"/run/slurmd-*.pid; do stop_pidfile "$pidfile" slurmd; done
    stop_pidfile "$STATE/run/slurmctld.pid" slurmctld
    stop_pidfile /run/munge/munged.pid munged
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
