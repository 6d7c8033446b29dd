#!/bin/bash
# git through the room cache: url.<cache>.insteadOf <upstream> in GITCONFIG for each mirrored
# repository while the cache is up; the rewrites made are listed in STATE_DIR/git-rewrites, so
# a later run (or undo) takes back exactly those.
#   git-rewrites.sh apply|undo GITCONFIG UP [TO FROM ...]      Env: STATE_DIR
set -eu
mode=$1 conf=$2 up=$3; shift 3
list=$STATE_DIR/git-rewrites
want() { if [ "$up" = true ]; then while [ $# -ge 2 ]; do printf '%s %s\n' "$1" "$2"; shift 2; done; fi; }
take_back() {
  [ -f "$list" ] || return 0
  while read -r to from; do
    [ -n "$to" ] && git config --file "$conf" --fixed-value --unset-all "url.$to.insteadOf" "$from" 2>/dev/null || true
  done < "$list"
  rm -f "$list"
}
case $mode in
  apply)
    take_back
    mkdir -p "$STATE_DIR" "$(dirname "$conf")"
    want "$@" > "$list"
    while read -r to from; do [ -z "$to" ] || git config --file "$conf" --add "url.$to.insteadOf" "$from"; done < "$list" ;;
  undo) take_back ;;
esac
