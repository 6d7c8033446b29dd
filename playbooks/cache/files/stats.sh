#!/bin/bash
# The room cache's figures, as one JSON line (read by `fleet cache status`): per protocol the
# requests the hosts made, how many were answered from the cache, the bytes sent to hosts and
# the bytes fetched upstream; and each cache's disk use against its cap. Reads the servers'
# own logs (nginx's access log in the fleet_cache format, apt-cacher-ng's transfer log,
# git daemon's log) and df/du. Read-only. Usage: stats.sh WORK_DIR MAX_GB
set -u
dir=$1 max_gb=$2
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
# Disk: the apt cache is a file system of its own; the HTTP cache is capped by nginx's max_size.
apt_used=$(df -B1 --output=used "$dir/apt/cache" 2>/dev/null | tail -n1 | tr -d ' ')
apt_size=$(df -B1 --output=size "$dir/apt/cache" 2>/dev/null | tail -n1 | tr -d ' ')
http_used=$(du -sb "$dir/http/cache" 2>/dev/null | cut -f1)
printf '{"http":%s,"apt":%s,"git":{"requests":%d},"disk":{"apt":{"used":%s,"cap":%s},"http":{"used":%s,"cap":%s}}}\n' \
  "$http" "$apt" "$git_req" "${apt_used:-0}" "${apt_size:-0}" "${http_used:-0}" "$((max_gb * 1024 * 1024 * 1024))"
