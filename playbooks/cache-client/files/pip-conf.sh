#!/bin/bash
# pip through the room cache: PIP_CONF holds index-url = the cache's PyPI index (and it as a
# trusted host: the cache speaks plain HTTP inside the room) while the cache is up; otherwise,
# and on undo, the host's own pip.conf is back (kept in STATE_DIR), or none.
#   pip-conf.sh apply|undo PIP_CONF UP INDEX ADDRESS          Env: STATE_DIR
set -eu
mode=$1 conf=$2 up=$3 index=$4 address=$5
keep=$STATE_DIR/pip.conf.orig
want() {
  echo "# Written by fleet (playbooks/cache-client.yaml): pip through the room cache at $address."
  echo "[global]"
  echo "index-url = $index"
  echo "trusted-host = $address"
}
ours() { head -n1 "$conf" 2>/dev/null | grep -q '^# Written by fleet (playbooks/cache-client.yaml)'; }
restore() {
  if [ -e "$keep" ]; then mv -f "$keep" "$conf"; elif ours; then rm -f "$conf"; fi
}
case $mode in
  apply)
    if [ "$up" != true ]; then restore; exit 0; fi
    mkdir -p "$STATE_DIR" "$(dirname "$conf")"
    if [ -e "$conf" ] && ! ours && [ ! -e "$keep" ]; then cp -a "$conf" "$keep"; fi
    want > "$conf.tmp" && chmod 0644 "$conf.tmp" && mv -f "$conf.tmp" "$conf" ;;
  undo) restore ;;
esac
