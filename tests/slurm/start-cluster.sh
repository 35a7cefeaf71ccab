#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for `make test-slurm` (Debian's slurmctld, slurmd, slurm-client,
# munge, and slurmdbd with MariaDB for the accounting that `sacct` and submitit read job states from).
#   tests/slurm/start-cluster.sh [install|start|stop|status]     (default: start; install and start need root)
# start writes $GANEXP_SLURM_DIR/slurm.conf and slurmdbd.conf (default folder /tmp/ganexp-slurm) for this
# host's real cores and memory, starts munged, MariaDB, slurmdbd, slurmctld and slurmd as root, and waits
# until `sinfo` shows the node idle. The cluster's commands find it through
# SLURM_CONF=$GANEXP_SLURM_DIR/slurm.conf (printed last); /etc/slurm is not touched.
# No cgroups: processes are tracked with proctrack/linuxproc, so it runs in a container or a VM.
set -euo pipefail
DIR=${GANEXP_SLURM_DIR:-/tmp/ganexp-slurm}
DBD_PORT=${GANEXP_SLURMDBD_PORT:-6819}
DB_PORT=${GANEXP_MARIADB_PORT:-3307}
CONF=$DIR/slurm.conf
HOST=$(hostname -s)
PACKAGES="slurmctld slurmd slurm-client slurmdbd munge mariadb-server"

say() { echo "[slurm] $*" >&2; }

install() {
  local cmd missing=""
  for cmd in slurmctld slurmd slurmdbd sbatch munged mariadbd; do command -v $cmd >/dev/null || missing=1; done
  [ -z "$missing" ] && return 0
  [ "$(id -u)" = 0 ] || { say "the Slurm packages are missing and installing them needs root: apt-get install $PACKAGES"; exit 3; }
  say "installing $PACKAGES"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PACKAGES >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PACKAGES >/dev/null; }
}

write_conf() {
  local cpus mem_mb
  cpus=$(nproc)
  mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))  # leave 10% to the OS
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  cat > "$CONF" <<CONF
# written by tests/slurm/start-cluster.sh for $HOST: one node, every daemon and job as root
ClusterName=ganexp-test
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=${GANEXP_SLURMCTLD_PORT:-6817}
SlurmdPort=${GANEXP_SLURMD_PORT:-6818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobRequeue=1
# seconds between SIGTERM and SIGKILL when a job is cancelled, preempted or over its time
KillWait=15
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
}

write_dbd_conf() {
  cat > "$DIR/slurmdbd.conf" <<CONF
# written by tests/slurm/start-cluster.sh: job accounting in the local MariaDB (database slurm_acct_db)
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=ganexp-test
StorageLoc=slurm_acct_db
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
CONF
  chmod 600 "$DIR/slurmdbd.conf"  # slurmdbd refuses a config others can read (it holds a password)
}

start_mariadb() {  # a MariaDB of its own: data in $DIR/mysql, TCP on 127.0.0.1:$DB_PORT, no /etc/mysql read
  local run=$DIR/mysql-run  # socket and pid file: the mysql user writes them
  local sql=(mariadb --no-defaults --socket="$run/mysqld.sock" -u root)
  if ! "${sql[@]}" -e "select 1" >/dev/null 2>&1; then
    if [ ! -d "$DIR/mysql/mysql" ]; then
      mkdir -p "$DIR/mysql" && chown mysql:mysql "$DIR/mysql"
      mariadb-install-db --no-defaults --user=mysql --datadir="$DIR/mysql" \
        --auth-root-authentication-method=socket >"$DIR/log/mariadb-install.log" 2>&1 \
        || { say "mariadb-install-db failed; see $DIR/log/mariadb-install.log"; exit 1; }
    fi
    mkdir -p "$run" && chown mysql:mysql "$run"
    mariadbd --no-defaults --user=mysql --datadir="$DIR/mysql" --bind-address=127.0.0.1 --port="$DB_PORT" \
      --socket="$run/mysqld.sock" --pid-file="$run/mysqld.pid" >"$DIR/log/mariadb.log" 2>&1 &
    wait_for "MariaDB" "${sql[@]}" -e "select 1"
  fi
  "${sql[@]}" -e "CREATE OR REPLACE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'ganexp-test';
                  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; FLUSH PRIVILEGES;"
}

wait_for() {  # wait_for WHAT COMMAND...: up to 30 s until COMMAND succeeds
  local what=$1 i; shift
  for i in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  say "$what did not come up; logs in $DIR/log"; tail -n 20 "$DIR"/log/*.log >&2 || true; exit 1
}

start_munge() {
  if pgrep -x munged >/dev/null; then return 0; fi
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  [ -s /etc/munge/munge.key ] || { mungekey --create --force 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  if id munge >/dev/null 2>&1; then runuser -u munge -- munged; else munged --force; fi
}

node_up() {
  case $(SLURM_CONF=$CONF sinfo -h -N -n "$HOST" -o %t 2>/dev/null) in idle|mix|alloc) return 0;; esac
  return 1
}

start() {
  [ "$(id -u)" = 0 ] || { say "starting slurmctld and slurmd needs root (this user is $(id -un))"; exit 3; }
  install
  if [ -f "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
    say "already running ($CONF)"; wait_for "the Slurm node" node_up; echo "SLURM_CONF=$CONF"; return 0
  fi
  write_conf
  write_dbd_conf
  start_munge
  start_mariadb
  SLURM_CONF=$CONF slurmdbd   # reads slurmdbd.conf from the folder of SLURM_CONF
  wait_for "slurmdbd" env SLURM_CONF="$CONF" sacctmgr -n list cluster
  SLURM_CONF=$CONF sacctmgr -i add cluster ganexp-test >/dev/null 2>&1 || true  # there already: fine
  slurmctld -f "$CONF" -i   # -i: ignore state from an earlier cluster in $DIR/state
  slurmd -f "$CONF"
  wait_for "the Slurm node" node_up
  say "node $HOST is idle: $(SLURM_CONF=$CONF sinfo -h -N -o '%c CPUs, %m MB')"
  echo "SLURM_CONF=$CONF"
}

stop() {
  local f
  for f in slurmd.pid slurmctld.pid slurmdbd.pid mysql-run/mysqld.pid; do
    if [ -f "$DIR/$f" ]; then kill "$(cat "$DIR/$f")" 2>/dev/null || true; fi
  done
  sleep 1
  say "stopped slurmd, slurmctld, slurmdbd and its MariaDB ($DIR kept: logs in $DIR/log; munged left running)"
}

status() {
  SLURM_CONF=$CONF sinfo -N && SLURM_CONF=$CONF squeue
}

case "${1:-start}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) say "usage: $0 [install|start|stop|status]"; exit 2 ;;
esac
