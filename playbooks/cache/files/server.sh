#!/bin/bash
# One server of the room cache, started the way the host runs services. The caller (a step of
# cache.yaml) chooses the way with its `when` on facts.has_systemd:
#
#   server.sh direct  start|running|stop NAME    a plain daemon, its pid file in $WORK_DIR/run
#                                                (start-stop-daemon, as Debian's init scripts do)
#   server.sh systemd start|running|stop NAME    a unit /etc/systemd/system/fleet-cache-NAME.service
#
# NAME is apt (apt-cacher-ng), http (nginx) or git (git daemon). `running` also holds the
# configuration the server was started with against the current one (a sha256 beside the pid
# file), so a changed configuration makes the step run again and restart it. `stop` stops only
# the process of our pid file (or our unit), never another instance of the same program.
#
# Environment: WORK_DIR, CACHE_ADDRESS, APT_PORT, HTTP_PORT, GIT_PORT, GIT_USER, GIT_GROUP.
set -euo pipefail
mode=$1 action=$2 name=$3
run=$WORK_DIR/run log=$WORK_DIR/log
stamp=$run/$name.config.sha256
unit=fleet-cache-$name
unit_env=()

case "$name" in
  apt)
    exe=/usr/sbin/apt-cacher-ng user=apt-cacher-ng group=apt-cacher-ng port=$APT_PORT
    conf=$WORK_DIR/apt/conf/acng.conf
    # apt-cacher-ng writes its own pid file (PidFile in acng.conf), in a folder it owns.
    pidfile=$run/apt/apt-cacher-ng.pid
    direct_args=(-c "$WORK_DIR/apt/conf")
    fg_args=(-c "$WORK_DIR/apt/conf" ForeGround=1)
    ;;
  http)
    exe=/usr/sbin/nginx user=root group=root port=$HTTP_PORT
    conf=$WORK_DIR/http/nginx.conf
    pidfile=$run/http.pid  # nginx's master writes it (`pid` in nginx.conf)
    direct_args=(-c "$conf" -e "$log/nginx-error.log")
    fg_args=(-c "$conf" -e "$log/nginx-error.log" -g 'daemon off;')
    ;;
  git)
    exe=/usr/lib/git-core/git-daemon user=$GIT_USER group=$GIT_GROUP port=$GIT_PORT
    conf=
    pidfile=$run/git.pid  # start-stop-daemon writes it (git daemon runs in the foreground)
    direct_args=(--reuseaddr --listen="$CACHE_ADDRESS" --port="$GIT_PORT" --base-path="$WORK_DIR/git" --export-all --verbose --log-destination=stderr "$WORK_DIR/git")
    fg_args=("${direct_args[@]}")
    # The mirrors are root's and git daemon runs as GIT_USER: git refuses "dubious ownership"
    # unless told otherwise, here for this server's processes only (not in any gitconfig).
    export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'
    unit_env=('Environment=GIT_CONFIG_COUNT=1' 'Environment=GIT_CONFIG_KEY_0=safe.directory' 'Environment=GIT_CONFIG_VALUE_0=*')
    ;;
  *) echo "server.sh: unknown server $name (apt, http or git)" >&2; exit 2 ;;
esac

# What the server is started with: its configuration file and its command line.
config_sha() { { [ -z "$conf" ] || cat "$conf"; printf '%s\n' "$exe" "${direct_args[@]}" "$CACHE_ADDRESS" "$port"; } | sha256sum | cut -d' ' -f1; }

listening() { (exec 3<>"/dev/tcp/$CACHE_ADDRESS/$port") 2>/dev/null; }

alive() {
  if [ "$mode" = systemd ]; then systemctl is-active -q "$unit"
  else start-stop-daemon --status --pidfile "$pidfile" --exec "$exe"; fi
}

wait_up() {
  for _ in $(seq 1 100); do
    if alive && listening; then return 0; fi
    sleep 0.2
  done
  echo "$name ($exe) did not come up on $CACHE_ADDRESS:$port; the end of its log:" >&2
  for f in "$log/$name.out" "$log/nginx-error.log" "$log/apt-cacher-ng/apt-cacher.err"; do
    case "$name:$f" in apt:*apt-cacher*|http:*nginx*|*:*"/$name.out") [ -f "$f" ] && tail -n 20 "$f" >&2 ;; esac
  done
  [ "$mode" = systemd ] && journalctl -u "$unit" -n 20 --no-pager >&2 || true
  return 1
}

stop() {
  if [ "$mode" = systemd ]; then
    if [ -f "/etc/systemd/system/$unit.service" ]; then
      systemctl disable --now "$unit" 2>/dev/null || true
      rm -f "/etc/systemd/system/$unit.service"
      systemctl daemon-reload
    fi
  else
    start-stop-daemon --stop --quiet --oknodo --pidfile "$pidfile" --exec "$exe" --retry TERM/15/KILL/5
    rm -f "$pidfile"
  fi
  rm -f "$stamp"
}

start() {
  mkdir -p "$run" "$log"
  if [ "$name" = http ]; then "$exe" -t -q -c "$conf" -e "$log/nginx-error.log"; fi
  if [ "$mode" = systemd ]; then
    local cmd
    cmd=$(printf '%q ' "$exe" "${fg_args[@]}")
    printf '%s\n' "# Written by fleet (playbooks/cache.yaml): the room cache's $name server." \
      '[Unit]' "Description=fleet room cache: $name" 'After=network-online.target local-fs.target' 'Wants=network-online.target' \
      '[Service]' 'Type=simple' "User=$user" "Group=$group" "${unit_env[@]}" "ExecStart=$cmd" 'Restart=on-failure' \
      "StandardOutput=append:$log/$name.out" "StandardError=append:$log/$name.out" \
      '[Install]' 'WantedBy=multi-user.target' > "/etc/systemd/system/$unit.service"
    systemctl daemon-reload
    systemctl enable --now "$unit"
  else
    case "$name" in
      apt) start-stop-daemon --start --quiet --pidfile "$pidfile" --chuid "$user:$group" --exec "$exe" -- "${direct_args[@]}" >>"$log/$name.out" 2>&1 ;;
      http) start-stop-daemon --start --quiet --pidfile "$pidfile" --exec "$exe" -- "${direct_args[@]}" >>"$log/$name.out" 2>&1 ;;
      git) start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$pidfile" --chuid "$user:$group" --output "$log/$name.out" --exec "$exe" -- "${direct_args[@]}" ;;
    esac
  fi
  wait_up
  config_sha > "$stamp"
}

case "$action" in
  running) alive && listening && [ "$(cat "$stamp" 2>/dev/null)" = "$(config_sha)" ] ;;
  start) if alive; then stop; fi; start ;;
  stop) stop ;;
  *) echo "usage: server.sh direct|systemd start|running|stop apt|http|git" >&2; exit 2 ;;
esac
