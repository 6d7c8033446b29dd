#!/bin/bash
# Warm the room cache: fetch each URL through the cache's own nginx (so it is cached before
# thirty hosts ask for it) and, when it has a checksum file, check it against that file.
#
#   warm.sh URL CHECKSUM_URL|- [URL CHECKSUM_URL|- ...]      (URLs on the cache, http://CACHE/...)
#
# A checksum file is a single sum ("HASH" or "HASH  NAME") or a list (SHA256SUMS: "HASH *NAME"
# per line), matched by the object's file name; its length says the algorithm (sha256/sha512,
# or md5/sha1 as old lists have). An object whose sum does not match is taken out of the cache
# (its cache file, found by nginx's key) and the step fails naming the URL: the cache never goes
# on serving it. Env: WORK_DIR (the cache's folder), STAMP (written when everything checked).
set -euo pipefail
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bad=0 n=0
sum_of() { # ALGO-BY-LENGTH FILE
  case ${#1} in 32) md5sum "$2" ;; 40) sha1sum "$2" ;; 64) sha256sum "$2" ;; 128) sha512sum "$2" ;; *) return 1 ;; esac | cut -d' ' -f1
}
# nginx keys its cache by the request's URI (proxy_cache_key in nginx.conf); a cache file is
# levels=1:2 under http/cache, named by the key's md5.
evict() { # URL
  local md5
  md5=$(printf '/%s' "${1#*://*/}" | md5sum | cut -d' ' -f1)
  rm -f "$WORK_DIR/http/cache/${md5: -1}/${md5: -3:2}/$md5"
}
while [ $# -ge 2 ]; do
  url=$1 sums=$2; shift 2; n=$((n + 1))
  obj=$tmp/object
  if ! curl -fsS --retry 2 -o "$obj" "$url"; then
    echo "could not fetch $url through the cache" >&2; bad=1; continue
  fi
  size=$(stat -c %s "$obj")
  if [ "$sums" = - ]; then echo "warm: $url ($size bytes; no checksum declared)"; continue; fi
  # The list fresh from upstream (a changed upstream is found), and cached anew for the hosts.
  if ! curl -fsS --retry 2 -H 'X-Fleet-Refresh: 1' -o "$tmp/sums" "$sums"; then
    echo "could not fetch the checksum file $sums through the cache" >&2; bad=1; continue
  fi
  name=${url##*/}; name=${name%%\?*}
  want=$(awk -v n="$name" 'NF == 1 && NR == 1 { print $1; exit } { f = $2; sub(/^\*/, "", f); sub(/^.*\//, "", f) } f == n { print $1; exit }' "$tmp/sums")
  [ -z "$want" ] && [ "$(grep -c . "$tmp/sums")" = 1 ] && want=$(awk '{print $1; exit}' "$tmp/sums")
  if [ -z "$want" ]; then echo "the checksum file $sums does not list $name" >&2; bad=1; continue; fi
  got=$(sum_of "$want" "$obj") || { echo "the checksum file $sums has a sum of unknown length for $name" >&2; bad=1; continue; }
  if [ "$got" != "$want" ]; then
    echo "$url is corrupt: its checksum is $got, $sums says $want; taken out of the cache (fix the upstream, then warm again)" >&2
    evict "$url"; bad=1; continue
  fi
  echo "warm: $url ($size bytes, checksum ok)"
done
[ "$bad" = 0 ] || exit 1
echo "$n objects warm"
date +%s > "$STAMP"
