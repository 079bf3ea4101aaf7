#!/usr/bin/env bash
# slurm-local.sh: a throwaway single-node Slurm cluster for the tests of
# `runner sweep --emit slurm`, run as root on this machine.
#
#   eval "$(scripts/slurm-local.sh up [DIR])"   start; prints the SLURM_CONF and
#                                              SLURM_LOCAL_DIR exports
#   scripts/slurm-local.sh status [DIR]         sinfo and squeue of the cluster
#   scripts/slurm-local.sh down [DIR]           cancel its jobs and stop it
#
# DIR (default: a new temporary folder for up, $SLURM_LOCAL_DIR for status
# and down) holds everything: slurm.conf, the munge key and socket, the
# controller's state, the node's spool, the pid files, the logs and the job
# completion log that `sacct --completion` reads. One slurmctld and one
# slurmd (node named after this host, sized from nproc and free), munge
# authentication on a private socket and key, proctrack/linuxproc,
# task/none, select/cons_tres, no accounting database.
#
# All traffic stays on loopback: the controller and the node are both
# 127.0.0.1 (SlurmctldHost=NAME(127.0.0.1), NodeAddr=127.0.0.1), their ports
# are picked free at start, and munged is given --origin=127.0.0.1 so that
# it resolves nothing. Every Slurm command must then run with SLURM_CONF
# set (without it a Slurm client looks the controller up in DNS).
#
# Needs Debian's slurm-wlm and munge (Slurm 22.05): apt-get install slurm-wlm munge.
set -euo pipefail
PATH=$PATH:/usr/sbin

die() { echo "slurm-local: $*" >&2; exit 1; }

need() {
	local c
	for c in slurmctld slurmd munged sbatch squeue sinfo scancel; do
		command -v "$c" >/dev/null 2>&1 ||
			die "$c not found: install slurm-wlm and munge (apt-get install slurm-wlm munge)"
	done
	[ "$(id -u)" = 0 ] || die "must run as root (slurmd starts jobs as their users)"
}

# freeport prints a TCP port nobody listens on (from /proc/net/tcp*).
freeport() {
	local used p i
	used=$(awk 'NR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null |
		while read -r h; do echo $((16#$h)); done | sort -u)
	for i in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
		if ! grep -qx "$p" <<<"$used" && [ "$p" != "${1:-}" ]; then
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# waitfor SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds.
waitfor() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			return 1
		fi
		sleep 0.2
	done
}

pidalive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

nodeidle() { [ "$(sinfo -h -o %T 2>/dev/null)" = idle ]; }

logtail() {
	local f
	for f in "$dir"/log/*.log; do
		[ -e "$f" ] || continue
		echo "--- $f" >&2
		tail -n 20 "$f" >&2
	done
}

up() {
	need
	dir=${1:-}
	if [ -z "$dir" ]; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/slurm-local.XXXXXX")
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ ! -e "$dir/slurm.conf" ] || die "$dir already holds a cluster; run down first"
	chmod 700 "$dir"
	# A start that fails half-way stops what it started.
	trap 'rc=$?; if [ "$rc" != 0 ]; then stop "$dir/slurmd.pid" "$dir/slurmctld.pid"; stop "$dir/munge/munged.pid"; fi' EXIT
	mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
	chmod 700 "$dir/munge"

	# munge: a private key, socket and daemon.
	head -c 1024 /dev/urandom >"$dir/munge/munge.key"
	chmod 400 "$dir/munge/munge.key"
	munged --force --origin=127.0.0.1 --socket="$dir/munge/munge.socket" \
		--key-file="$dir/munge/munge.key" --pid-file="$dir/munge/munged.pid" \
		--seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log" ||
		{ logtail; die "munged did not start"; }
	waitfor 10 munged test -S "$dir/munge/munge.socket" || { logtail; die "munged socket did not appear"; }

	local host cpus mem ctlport dport
	host=$(hostname -s)
	cpus=$(nproc)
	# 90% of the memory: slurmd refuses a node configured above what it finds.
	mem=$(free -m | awk '/^Mem:/ { print int($2 * 0.9) }')
	ctlport=$(freeport)
	dport=$(freeport "$ctlport")
	cat >"$dir/slurm.conf" <<EOF
# Written by scripts/slurm-local.sh: a single-node cluster on loopback.
ClusterName=speedrun$(basename "$dir" | tr -cd 'a-z0-9' | tail -c 8)
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctlport
SlurmdPort=$dport
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.log
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
MinJobAge=600
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO DefMemPerCPU=$((mem / cpus))
EOF
	: >"$dir/plugstack.conf"
	export SLURM_CONF=$dir/slurm.conf

	slurmctld -i -f "$SLURM_CONF" || { logtail; die "slurmctld did not start"; }
	waitfor 20 slurmctld pidalive "$dir/slurmctld.pid" || { logtail; die "slurmctld is not running"; }
	slurmd -f "$SLURM_CONF" -N "$host" || { logtail; die "slurmd did not start"; }
	waitfor 60 "node idle" nodeidle || { logtail; sinfo >&2 || true; die "the node did not come up idle within 60 s"; }
	echo "export SLURM_CONF=$SLURM_CONF"
	echo "export SLURM_LOCAL_DIR=$dir"
}

status() {
	dir=${1:-${SLURM_LOCAL_DIR:-}}
	[ -n "$dir" ] && [ -e "$dir/slurm.conf" ] || die "no cluster in '${dir}': give its folder or set SLURM_LOCAL_DIR"
	export SLURM_CONF=$dir/slurm.conf
	sinfo
	squeue
}

# stop PIDFILE...: end the daemons they name, together, and wait (10 s at
# most, then SIGKILL) for them to go.
stop() {
	local f pid pids=() p _
	for f in "$@"; do
		pid=$(cat "$f" 2>/dev/null) || continue
		if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
			pids+=("$pid")
		fi
	done
	for _ in $(seq 1 100); do
		for p in "${pids[@]}"; do
			if kill -0 "$p" 2>/dev/null; then
				sleep 0.1
				continue 2
			fi
		done
		return 0
	done
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null || true
	done
}

noJobs() { [ -z "$(squeue -h -o %A 2>/dev/null)" ]; }

down() {
	dir=${1:-${SLURM_LOCAL_DIR:-}}
	[ -n "$dir" ] && [ -e "$dir/slurm.conf" ] || die "no cluster in '${dir}': give its folder or set SLURM_LOCAL_DIR"
	export SLURM_CONF=$dir/slurm.conf
	if pidalive "$dir/slurmctld.pid"; then
		# Jobs first, so that no slurmstepd outlives the cluster.
		squeue -h -o %A 2>/dev/null | sort -u | xargs -r scancel 2>/dev/null || true
		waitfor 20 "jobs gone" noJobs || echo "slurm-local: jobs still listed after 20 s" >&2
	fi
	stop "$dir/slurmd.pid" "$dir/slurmctld.pid"
	stop "$dir/munge/munged.pid"
	echo "slurm-local: stopped the cluster in $dir" >&2
}

case "${1:-}" in
up) up "${2:-}" ;;
status) status "${2:-}" ;;
down) down "${2:-}" ;;
*) die "usage: slurm-local.sh up [DIR] | status [DIR] | down [DIR]" ;;
esac
