#!/bin/bash
# The room cache's figures, as one JSON line (read by `fleet cache status`): per protocol the
# requests the hosts made, how many were answered from the cache, the bytes sent to hosts and
# the bytes fetched upstream; and each cache's disk use against its cap. Reads the servers'
# own logs (nginx's access log in the fleet_cache format, apt-cacher-ng's transfer log,
# git daemon's log) and df. Read-only. Usage: stats.sh WORK_DIR
set -u
dir=$1
http=$(awk '{
    for (i = 1; i <= NF; i++) {
      if ($i ~ /^cache=/) { c = substr($i, 7) }
      if ($i ~ /^upstream_bytes=/) { u = substr($i, 16); gsub(/[^0-9,]/, "", u); n = split(u, parts, ","); for (j = 1; j <= n; j++) up += parts[j] }
    }
    # $time $addr "$request" $status $bytes ...: the quoted request is three words
    if ($3 ~ /^"GET$/ || $3 ~ /^"HEAD$/) { req++; sent += $7; if (c == "HIT" || c == "REVALIDATED" || c == "UPDATING" || c == "STALE") hit++ }
  } END { printf "{\"requests\":%d,\"hits\":%d,\"bytes_served\":%d,\"bytes_upstream\":%d}", req, hit, sent, up }' "$dir/log/nginx-access.log" 2>/dev/null) || true
[ -n "$http" ] || http='{"requests":0,"hits":0,"bytes_served":0,"bytes_upstream":0}'
apt=$(awk -F'|' '$2 == "O" { req++; sent += $3; files[$5]++ } $2 == "I" { up += $3; fetched++ }
  END { hit = req - fetched; if (hit < 0) hit = 0; printf "{\"requests\":%d,\"hits\":%d,\"bytes_served\":%d,\"bytes_upstream\":%d}", req, hit, sent, up }' "$dir/log/apt-cacher-ng/apt-cacher.log" 2>/dev/null) || true
[ -n "$apt" ] || apt='{"requests":0,"hits":0,"bytes_served":0,"bytes_upstream":0}'
git_req=$(grep -c "Request upload-pack" "$dir/log/git.out" 2>/dev/null) || git_req=0
# Disk: each cache is a file system of its own (cache.yaml's *-cache-fs steps).
disk() { # FOLDER: {"used":..,"cap":..,"avail":..} of its file system, bytes
  local u c a
  read -r u c a < <(df -B1 --output=used,size,avail "$1" 2>/dev/null | tail -n1) || true
  printf '{"used":%s,"cap":%s,"avail":%s}' "${u:-0}" "${c:-0}" "${a:-0}"
}
printf '{"http":%s,"apt":%s,"git":{"requests":%d},"disk":{"apt":%s,"http":%s}}\n' \
  "$http" "$apt" "$git_req" "$(disk "$dir/apt/cache")" "$(disk "$dir/http/cache")"
