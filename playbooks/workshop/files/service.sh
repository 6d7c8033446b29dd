#!/bin/bash
# One long-running daemon of the workshop, the way the host runs services: a transient systemd
# unit (fleet-NAME) where systemd runs, else a plain process in its own session with a pid file
# (this is how libvirtd-direct runs too). Stops only what it started.
#
#   service.sh start NAME RUN_DIR LOG -- COMMAND...   start unless running (exit 0 either way)
#   service.sh running NAME RUN_DIR                   exit 0 when it runs
#   service.sh stop NAME RUN_DIR                      stop it (SIGTERM, then SIGKILL after 15 s)
set -euo pipefail
action=$1 name=$2 run=$3
pidfile=$run/$name.pid
systemd() { [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; }

alive() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [ -e /proc/"$pid" ] && ! grep -q '^State:[[:space:]]*[ZX]' /proc/"$pid"/status 2>/dev/null
}

running() {
  if systemd; then systemctl is-active -q "fleet-$name"; else alive; fi
}

case "$action" in
  running) running ;;
  start)
    log=$4; shift 5  # start NAME RUN_DIR LOG --
    running && exit 0
    mkdir -p "$run" "$(dirname "$log")"
    if systemd; then
      systemctl reset-failed "fleet-$name" 2>/dev/null || true
      systemd-run --unit "fleet-$name" --property=Restart=on-failure -p StandardOutput=append:"$log" -p StandardError=append:"$log" -- "$@"
    else
      setsid "$@" </dev/null >>"$log" 2>&1 &
      echo $! > "$pidfile"
    fi
    sleep 0.5
    running || { echo "$name did not stay up; the last lines of $log:" >&2; tail -n 20 "$log" >&2; exit 1; }
    ;;
  stop)
    if systemd; then
      systemctl stop "fleet-$name" 2>/dev/null || true
    elif alive; then
      pid=$(cat "$pidfile")
      kill -TERM "$pid"
      for _ in $(seq 1 150); do alive || break; sleep 0.1; done
      if alive; then kill -KILL "$pid"; fi
    fi
    rm -f "$pidfile"
    ;;
  *) echo "usage: service.sh start|running|stop NAME RUN_DIR ..." >&2; exit 2 ;;
esac
