#!/usr/bin/env bash
# The jobd demo (make demo): a private MariaDB, the jobs table migrated,
# jobd-master and two jobd workers, a handful of jobs of several targets run
# by a small launcher script, then the finished rows. Everything lives in a
# temporary directory and is stopped and removed at the end.
set -euo pipefail

BIN=${BIN:-$(cd "$(dirname "$0")/.." && pwd)/bin}
WORK=$(mktemp -d /tmp/jobd-demo.XXXXXX)
PIDS=()

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  local p
  while :; do
    p=$(( (RANDOM % 30000) + 20000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "demo: timed out waiting for $what" >&2; exit 1
}

MARIADBD=$(command -v mariadbd || echo /usr/sbin/mariadbd)
USER_OPT=(); [ "$(id -u)" -eq 0 ] && USER_OPT=(--user=root)

say "A private MariaDB in $WORK/db"
DBPORT=$(free_port)
mariadb-install-db --no-defaults --datadir="$WORK/db" --auth-root-authentication-method=normal \
  --skip-test-db --skip-name-resolve "${USER_OPT[@]}" >"$WORK/install.log" 2>&1
"$MARIADBD" --no-defaults --datadir="$WORK/db" --socket="$WORK/mysqld.sock" --port="$DBPORT" \
  --bind-address=127.0.0.1 --skip-log-bin --skip-name-resolve --log-error="$WORK/mariadb.log" \
  "${USER_OPT[@]}" &
PIDS+=($!)
SQL=(mariadb --protocol=tcp -h127.0.0.1 -P"$DBPORT" -uroot)
wait_for 60 "MariaDB" "${SQL[@]}" -e 'SELECT 1'
"${SQL[@]}" -e 'CREATE DATABASE demo'
echo "MariaDB $("${SQL[@]}" -N -e 'SELECT VERSION()') on 127.0.0.1:$DBPORT"

MPORT=$(free_port); W1PORT=$(free_port); W2PORT=$(free_port)
cat >"$WORK/launcher.sh" <<'SH'
#!/bin/sh
# The demo's launcher: what a PHP app's `php launcher.php {id}` would do.
echo "job $1 (target $JOBD_TARGET, slot ${JOBD_SLOT:-none}) ran on $(hostname) as pid $$"
sleep 0.$(( $1 % 5 ))
[ $(( $1 % 7 )) -eq 0 ] && { echo "job $1: simulated failure" >&2; exit 3; }
exit 0
SH
chmod +x "$WORK/launcher.sh"

cat >"$WORK/jobd-master.toml" <<TOML
listen = "127.0.0.1:$MPORT"
poke_throttle_interval = "100ms"
TOML
for n in 1 2; do
  port=W${n}PORT
  cat >"$WORK/jobd$n.toml" <<TOML
name = "worker-$n"
listen = "127.0.0.1:${!port}"
poll_interval = "2s"
[master]
addr = "127.0.0.1:$MPORT"
reconnect_interval = "1s"
[mysql]
dsn = "root@tcp(127.0.0.1:$DBPORT)/demo"
[launcher]
command = "$WORK/launcher.sh {id}"
[targets.mail]
concurrency = 2
[targets.reports]
concurrency = 1
slots = { heavy = 1 }
TOML
done
# worker-2 also serves the "images" target.
printf '[targets.images]\nconcurrency = 3\n' >>"$WORK/jobd2.toml"

say "Create the jobs table"
run "$BIN/jobd" migrate up --config "$WORK/jobd1.toml"

say "Start jobd-master and two jobd workers"
"$BIN/jobd-master" --config "$WORK/jobd-master.toml" 2>"$WORK/jobd-master.log" & PIDS+=($!)
wait_for 30 "jobd-master" bash -c "exec 3<>/dev/tcp/127.0.0.1/$MPORT"
for n in 1 2; do
  "$BIN/jobd" --config "$WORK/jobd$n.toml" 2>"$WORK/jobd$n.log" & PIDS+=($!)
done
wait_for 30 "worker-1" bash -c "exec 3<>/dev/tcp/127.0.0.1/$W1PORT"
wait_for 30 "worker-2" bash -c "exec 3<>/dev/tcp/127.0.0.1/$W2PORT"
JOBCTL=("$BIN/jobctl" --host 127.0.0.1 --port "$MPORT" --master)
wait_for 30 "both workers registered" bash -c "[ \$(${JOBCTL[*]} workers --no-status | grep -c '^worker-') -eq 2 ]"
run "${JOBCTL[@]}" workers

say "Insert jobs, as an application would, and poke the master"
export JOBD_MYSQL_DSN="root@tcp(127.0.0.1:$DBPORT)/demo"
# jobs add inserts a row and pokes the master, as an application does
# after its INSERT.
run "${JOBCTL[@]}" jobs add --target mail
for t in mail mail reports images images images images; do
  "${JOBCTL[@]}" jobs add --target "$t" >/dev/null
done
"${JOBCTL[@]}" jobs add --target reports --slot heavy --priority 5 >/dev/null
"${JOBCTL[@]}" jobs add --target mail --delay 2s >/dev/null
echo "inserted 9 more jobs (one of them delayed by 2s)"
run "${JOBCTL[@]}" poke mail reports images

say "Wait until every job has finished"
wait_for 60 "the jobs" bash -c "[ \$(${SQL[*]} -N demo -e \"SELECT COUNT(*) FROM jobs WHERE status NOT IN ('done','ignored')\") -eq 0 ]"
run "$BIN/jobctl" jobs list --limit 20

say "A manual job, run synchronously through the master"
id=$("$BIN/jobctl" jobs add --target mail --manual)
run "${JOBCTL[@]}" run-manual "$id:mail"

say "Worker status"
run "$BIN/jobctl" --port "$W2PORT" status

say "Stop everything"
for pid in "${PIDS[@]:1}"; do kill -TERM "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]:1}"; do wait "$pid" 2>/dev/null || true; done
grep -h '"jobd stopped"\|jobd stopped' "$WORK"/jobd*.log | head -2 || true
echo "demo done"
